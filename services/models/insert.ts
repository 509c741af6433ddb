import type { Model } from 'mongoose'
import { mongoSignal } from '../infrastructure/mongo-budget.js'

/**
 * Inserts one document under the current MongoDB budget. `Model.create` (document save) drops
 * driver options such as the AbortSignal; `insertMany` casts, validates, applies defaults and
 * timestamps the same way and passes it on. A duplicate key still fails with code 11000.
 */
export async function insertOne<M extends Model<any>> (model: M, fields: Record<string, unknown>): Promise<InstanceType<M>> {
  const signal = mongoSignal()
  const [document] = await model.insertMany([fields], signal === undefined ? {} : { signal } as Record<string, unknown>)
  return document as InstanceType<M>
}
