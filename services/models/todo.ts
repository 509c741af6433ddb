import { Schema, type Connection, type InferSchemaType } from 'mongoose'

const todoSchema = new Schema({
  userId: { type: Schema.Types.ObjectId, required: true, index: true },
  title: { type: String, required: true, trim: true, maxlength: 200 },
  done: { type: Boolean, required: true, default: false }
}, { timestamps: true, versionKey: false, strict: 'throw' })

export type TodoFields = InferSchemaType<typeof todoSchema>

export const createTodoModel = (connection: Connection) => connection.model('Todo', todoSchema)
export type TodoModel = ReturnType<typeof createTodoModel>
export type TodoDocument = InstanceType<TodoModel>
