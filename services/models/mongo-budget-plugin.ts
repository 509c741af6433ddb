import type { MongooseDefaultQueryMiddleware, Query, Schema } from 'mongoose'
import { mongoSignal } from '../infrastructure/mongo-budget.js'

// Every query operation (exists → findOne, findById* → findOne*); updateOne and deleteOne are
// query middleware by default, which is what Model.updateOne and Model.deleteOne run.
const queryOperations: MongooseDefaultQueryMiddleware[] = [
  'countDocuments', 'deleteMany', 'deleteOne', 'distinct', 'estimatedDocumentCount', 'find', 'findOne',
  'findOneAndDelete', 'findOneAndReplace', 'findOneAndUpdate', 'replaceOne', 'updateMany', 'updateOne'
]

/**
 * Hands every query the AbortSignal of the current MongoDB budget (services/infrastructure/mongo-budget.ts);
 * the driver aborts server selection, connection checkout and the socket read with it. Inserts do
 * not pass through query middleware: services/models/insert.ts gives them the signal.
 */
export function mongoBudgetPlugin (schema: Schema): void {
  schema.pre<Query<unknown, unknown>>(queryOperations, function attachSignal () {
    const signal = mongoSignal()
    if (signal !== undefined) this.setOptions({ signal } as Record<string, unknown>)
  })
}
