import type { FastifyRequest } from 'fastify'
import type { ClientInfo } from '../services/sessions/sessions.js'

/** What a session remembers about the device that opened it. */
export function clientInfo (request: FastifyRequest): ClientInfo {
  return { userAgent: request.headers['user-agent'], ip: request.ip }
}
