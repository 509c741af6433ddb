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

/** True when every write error of an insert is a duplicate key (the documents were already there). */
export const isDuplicateOnly = (error: unknown): boolean => {
  const { code, writeErrors } = error as { code?: number, writeErrors?: Array<{ code?: number, err?: { code?: number } }> }
  if (Array.isArray(writeErrors) && writeErrors.length > 0) return writeErrors.every((entry) => (entry.code ?? entry.err?.code) === 11000)
  return code === 11000
}

/** Inserts documents whose ids are deterministic; those already there are left as they are. */
export async function insertIdempotent (model: Model<any>, documents: Array<Record<string, unknown>>): Promise<void> {
  if (documents.length === 0) return
  try {
    await model.insertMany(documents, { ordered: false })
  } catch (error) {
    if (!isDuplicateOnly(error)) throw error
  }
}
