import { isValidObjectId } from 'mongoose'
import { EmailTakenError } from '../infrastructure/errors.js'
import type { Models } from '../models/index.js'
import { insertOne } from '../models/insert.js'
import type { UserDocument, UserFields } from '../models/user.js'

/** The user as the API shows it (and as Redis caches it). */
export interface PublicUser {
  id: string
  email: string
  name: string
  createdAt: string
}

type StoredUser = Pick<UserDocument, '_id' | 'email' | 'name'> & { createdAt?: Date | null }

export function toPublicUser (user: StoredUser): PublicUser {
  return {
    id: user._id.toString(),
    email: user.email,
    name: user.name,
    createdAt: (user.createdAt ?? new Date(0)).toISOString()
  }
}

const isDuplicateKey = (error: unknown): boolean => (error as { code?: number }).code === 11000

export function createUserService ({ models }: { models: Models }) {
  const { User } = models
  return {
    async findUserByEmail (email: string): Promise<UserDocument | null> {
      return await User.findOne({ email })
    },

    async findUserById (userId: string): Promise<UserDocument | null> {
      return isValidObjectId(userId) ? await User.findById(userId) : null
    },

    /**
     * Creates the account; the unique email index decides races (→ EMAIL_TAKEN). Under the
     * request's MongoDB budget (insertOne): a frozen server answers after the budget, not after
     * the driver's socket timeout.
     */
    async createUser (fields: Pick<UserFields, 'email' | 'name'> & { _id?: string, passwordHash?: string | undefined }): Promise<UserDocument> {
      try {
        return await insertOne(User, fields)
      } catch (error) {
        if (isDuplicateKey(error)) throw new EmailTakenError()
        throw error
      }
    },

    async renameUser (userId: string, name: string): Promise<UserDocument | null> {
      return await User.findByIdAndUpdate(userId, { $set: { name } }, { returnDocument: 'after', runValidators: true })
    }
  }
}

export type UserService = ReturnType<typeof createUserService>
