import { isValidObjectId } from 'mongoose'
import { NotFoundError } from '../infrastructure/errors.js'
import type { Models } from '../models/index.js'
import { insertOne } from '../models/insert.js'

export interface TodoView {
  id: string
  title: string
  done: boolean
  createdAt: string
  updatedAt: string
}

interface StoredTodo { _id: { toString: () => string }, title: string, done: boolean, createdAt: Date, updatedAt: Date }

const toView = (todo: StoredTodo): TodoView => ({
  id: todo._id.toString(),
  title: todo.title,
  done: todo.done,
  createdAt: todo.createdAt.toISOString(),
  updatedAt: todo.updatedAt.toISOString()
})

/**
 * The demo protected resource. Every query is scoped by owner, so another user's todo is
 * indistinguishable from one that does not exist (404), never a 403 that confirms it exists.
 */
export function createTodoService ({ models }: { models: Models }) {
  const { Todo } = models
  const notFound = () => new NotFoundError('Todo not found')

  return {
    async listTodos (userId: string): Promise<TodoView[]> {
      return (await Todo.find({ userId }).sort({ createdAt: 1 }).lean()).map(toView)
    },

    async createTodo (userId: string, title: string): Promise<TodoView> {
      return toView(await insertOne(Todo, { userId, title }))
    },

    async updateTodo (userId: string, todoId: string, changes: { title?: string | undefined, done?: boolean | undefined }): Promise<TodoView> {
      if (!isValidObjectId(todoId)) throw notFound()
      const set = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined))
      const todo = await Todo.findOneAndUpdate({ _id: todoId, userId }, { $set: set }, { returnDocument: 'after', runValidators: true }).lean()
      if (todo === null) throw notFound()
      return toView(todo)
    },

    async deleteTodo (userId: string, todoId: string): Promise<void> {
      if (!isValidObjectId(todoId)) throw notFound()
      const { deletedCount } = await Todo.deleteOne({ _id: todoId, userId })
      if (deletedCount === 0) throw notFound()
    }
  }
}

export type TodoService = ReturnType<typeof createTodoService>
