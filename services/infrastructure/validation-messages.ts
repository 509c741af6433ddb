/**
 * Human messages for schema validation failures: "email must be one address like
 * ada@example.com", "unknown property `role`", "name is required", instead of Ajv's
 * "body/email must match pattern "^[ \t]*[^\s…" and "must NOT have additional properties".
 *
 * A schema may carry its own wording for a format it checks (a pattern or a format) in the
 * annotation keyword MESSAGE_KEYWORD; the server's Ajv runs with `verbose` so each error carries
 * the schema that failed. Everything else is worded from the keyword and its parameters.
 */
export const MESSAGE_KEYWORD = 'x-message'

/** The parts of an Ajv error object read here. */
export interface SchemaError {
  keyword: string
  instancePath: string
  params: Record<string, unknown>
  message?: string
  parentSchema?: Record<string, unknown>
}

export interface DescribedError {
  /** One sentence naming the field, e.g. "email must be one address like ada@example.com". */
  message: string
  /** Where the field is: `body.email`, `querystring.token`, `params.id`, or the part itself. */
  field: string
}

const typeNames: Record<string, string> = {
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  object: 'a JSON object',
  array: 'a list',
  null: 'null'
}

const partNames: Record<string, string> = { body: 'the body', querystring: 'the query string', params: 'the URL', headers: 'the headers' }

const quoted = (value: unknown): string => typeof value === 'string' ? `"${value}"` : JSON.stringify(value)

function propertiesOf (schema: Record<string, unknown> | undefined): string[] {
  const properties = schema?.properties
  return typeof properties === 'object' && properties !== null ? Object.keys(properties) : []
}

function wording (error: SchemaError, all: SchemaError[]): string {
  const { keyword, params, parentSchema } = error
  const ownMessage = parentSchema?.[MESSAGE_KEYWORD]
  switch (keyword) {
    case 'type':
      return `must be ${String(params.type).split(',').map((type) => typeNames[type] ?? type).join(' or ')}`
    case 'minLength':
      return params.limit === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters`
    case 'maxLength':
      return `must be at most ${String(params.limit)} characters`
    case 'pattern':
    case 'format':
      return typeof ownMessage === 'string' ? ownMessage : 'is not in the expected format'
    case 'minimum':
      return `must be at least ${String(params.limit)}`
    case 'maximum':
      return `must be at most ${String(params.limit)}`
    case 'enum':
      return `must be one of ${(params.allowedValues as unknown[]).map(quoted).join(', ')}`
    case 'const':
      return `must be ${quoted(params.allowedValue)}`
    case 'anyOf':
    case 'oneOf': {
      if (typeof ownMessage === 'string') return ownMessage
      const allowed = all.filter((other) => other.keyword === 'const' && other.instancePath === error.instancePath).map((other) => quoted(other.params.allowedValue))
      return allowed.length > 0 ? `must be one of ${allowed.join(', ')}` : 'is not one of the accepted forms'
    }
    case 'minProperties':
      return `must name at least one of ${propertiesOf(parentSchema).map((name) => `\`${name}\``).join(', ')}`
    default:
      return error.message ?? 'is not valid'
  }
}

/** Turns the errors of one failed validation (Fastify's `error.validation`) into one message. */
export function describeValidation (errors: SchemaError[], part = 'body'): DescribedError {
  // A union reports each branch's failure before its own: the union's error words them together.
  const error = errors.find((candidate) => candidate.keyword === 'anyOf' || candidate.keyword === 'oneOf') ?? errors[0]
  if (error === undefined) return { message: `${partNames[part] ?? part} is not valid`, field: part }

  const path = error.instancePath.split('/').slice(1).map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
  if (error.keyword === 'required') {
    const name = [...path, String(error.params.missingProperty)].join('.')
    return { message: `${name} is required`, field: [part, name].join('.') }
  }
  if (error.keyword === 'additionalProperties') {
    const name = String(error.params.additionalProperty)
    const allowed = propertiesOf(error.parentSchema)
    const hint = allowed.length > 0 ? ` (allowed: ${allowed.join(', ')})` : ` (${partNames[part] ?? part} takes none)`
    return { message: `unknown property \`${name}\`${path.length > 0 ? ` in ${path.join('.')}` : ''}${hint}`, field: [part, ...path, name].join('.') }
  }
  const subject = path.length > 0 ? path.join('.') : (partNames[part] ?? part)
  return { message: `${subject} ${wording(error, errors)}`, field: [part, ...path].join('.') }
}
