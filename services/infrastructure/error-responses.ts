import { STATUS_CODES } from 'node:http'
import { OptionalKind, Type, type TProperties, type TSchema } from '@sinclair/typebox'
import * as appErrors from './errors.js'
import { ErrorCodes, OTP_WAIT_MESSAGE, type ErrorCode } from './errors.js'
import { withWait } from './wait-in-words.js'

/**
 * Error responses for the route schemas: each status gets a schema with the four fields every
 * error has plus only the fields its codes can add, the Retry-After header where one is sent, and
 * one OpenAPI example per code with the message the API really answers. The schemas also drive
 * serialization, so a field missing here would be dropped from the body.
 */

/** The shape every error shares; `example` fills the property examples of one status. */
const common = (example: { statusCode: number, code: string, error: string, message: string }) => ({
  statusCode: Type.Integer({ examples: [example.statusCode] }),
  code: Type.String({ description: 'Machine-readable code (SPEC §3)', examples: [example.code] }),
  error: Type.String({ description: 'HTTP reason phrase', examples: [example.error] }),
  message: Type.String({ description: 'What went wrong, for a person', examples: [example.message] })
})

export const ErrorResponse = Type.Object(common({ statusCode: 400, code: 'VALIDATION_FAILED', error: 'Bad Request', message: 'email must be one address like ada@example.com' }), {
  description: 'Error: one shape for every failure'
})

const EXAMPLE_WAIT = 42
const retryAfter = (description = 'Seconds to wait before trying again; the Retry-After header says the same') =>
  Type.Integer({ minimum: 1, description, examples: [EXAMPLE_WAIT] })

/** The fields a code adds to the common four. */
const extraFields: Partial<Record<ErrorCode, TProperties>> = {
  VALIDATION_FAILED: {
    field: Type.Optional(Type.String({
      description: 'Where the problem is: body.<property>, querystring.<name> or params.<name>; absent when the body could not be read at all',
      examples: ['body.email']
    }))
  },
  OTP_INVALID: { attemptsRemaining: Type.Integer({ minimum: 0, description: 'Guesses left, for this code and for the address this hour', examples: [3] }) },
  EMAIL_RATE_LIMITED: { retryAfter: retryAfter() },
  RATE_LIMITED: { retryAfter: retryAfter() },
  OTP_LOCKED: {
    retryAfter: Type.Optional(retryAfter('Seconds until the address may try again (its hourly budget spent, or backing off); absent when the code used its last attempt: request a new code'))
  }
}

/** Messages that are not fixed by the error's definition (formatted, or written by the error handler). */
const exampleMessages: Partial<Record<ErrorCode, string>> = {
  VALIDATION_FAILED: 'email must be one address like ada@example.com',
  NOT_FOUND: 'Todo not found',
  SERVICE_UNAVAILABLE: 'Redis is unavailable; try again shortly',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported Media Type: send Content-Type: application/json',
  PAYLOAD_TOO_LARGE: 'Request body is too large',
  INTERNAL_ERROR: 'Something went wrong on our side'
}

/** The message each code answers with at each status, read from the error definitions themselves. */
const definedMessages = new Map<string, string>()
for (const [name, value] of Object.entries(appErrors)) {
  if (!name.endsWith('Error') || typeof value !== 'function') continue
  const error = new (value as new () => Error & { code: string, statusCode: number })()
  definedMessages.set(`${error.code} ${error.statusCode}`, error.message)
}

const retryAfterHeader = { 'Retry-After': Type.Integer({ minimum: 1, description: 'Seconds to wait before trying again' }) }
const knownCodes = new Set<string>(Object.keys(ErrorCodes))
const exampleOf = (schema: TSchema): unknown => (schema.examples as unknown[] | undefined)?.[0]

function examplesFor (status: number, codes: ErrorCode[], extra: TProperties): Record<string, { summary: string, value: Record<string, unknown> }> {
  const examples: Record<string, { summary: string, value: Record<string, unknown> }> = {}
  for (const code of codes) {
    const base = { statusCode: status, code, error: STATUS_CODES[status] ?? 'Error' }
    const message = exampleMessages[code] ?? definedMessages.get(`${code} ${status}`) ?? STATUS_CODES[status] ?? code
    const fields = Object.fromEntries(Object.entries({ ...extraFields[code], ...extra }).map(([name, schema]) => [name, exampleOf(schema)]))
    if (fields.retryAfter !== undefined) {
      examples[code] = { summary: `${code} (wait ${EXAMPLE_WAIT} s)`, value: { ...base, message: withWait(code === 'OTP_LOCKED' ? OTP_WAIT_MESSAGE : message, EXAMPLE_WAIT), ...fields } }
      // OTP_LOCKED also comes without a wait: the code's last attempt was used, and a new code is the way on.
      if (code === 'OTP_LOCKED') examples[`${code} (new code needed)`] = { summary: `${code} after the code's last attempt`, value: { ...base, message } }
    } else {
      examples[code] = { summary: code, value: { ...base, message, ...fields } }
    }
  }
  return examples
}

/**
 * Response schemas for error statuses, each described by the codes it may carry, e.g.
 * `errors({ 400: 'VALIDATION_FAILED', 429: 'EMAIL_RATE_LIMITED, RATE_LIMITED' })`: the codes
 * named in each description decide the schema's extra fields and the examples. `extra` adds
 * fields to every status given (e.g. the `checks` of /ready).
 */
export function errors<T extends Record<number, string>> (described: T, extra: TProperties = {}): { [K in keyof T]: typeof ErrorResponse } {
  const entries = Object.entries(described).map(([statusText, description]) => {
    const status = Number(statusText)
    const codes = [...new Set(description.match(/\b[A-Z][A-Z_]+[A-Z]\b/g) ?? [])].filter((code) => knownCodes.has(code)) as ErrorCode[]
    const examples = examplesFor(status, codes, extra)
    const first = Object.values(examples)[0]?.value as { statusCode: number, code: string, error: string, message: string } | undefined
    const properties: TProperties = { ...common(first ?? { statusCode: status, code: 'ERROR', error: STATUS_CODES[status] ?? 'Error', message: description }), ...extra }
    for (const code of codes) {
      for (const [name, schema] of Object.entries(extraFields[code] ?? {})) {
        // Required only where every code of this status carries the field (OTP_EXPIRED has no attemptsRemaining).
        const always = codes.every((other) => { const own = extraFields[other]?.[name]; return own !== undefined && !(OptionalKind in own) })
        properties[name] = always ? schema : Type.Optional(schema)
      }
    }
    const schema = Type.Object(properties, {
      description,
      'x-examples': examples,
      ...(status === 429 || status === 503 ? { headers: retryAfterHeader } : {})
    })
    return [statusText, schema]
  })
  return Object.fromEntries(entries) as { [K in keyof T]: typeof ErrorResponse }
}
