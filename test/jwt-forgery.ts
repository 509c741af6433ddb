import { createHmac } from 'node:crypto'

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** Builds a JWT by hand, to present tokens the server must refuse. */
export function forgeJwt (header: Record<string, unknown>, payload: Record<string, unknown>, secret?: string): string {
  const body = `${encode(header)}.${encode(payload)}`
  if (secret === undefined) return `${body}.`
  const algorithm = header.alg === 'HS512' ? 'sha512' : header.alg === 'HS384' ? 'sha384' : 'sha256'
  return `${body}.${createHmac(algorithm, secret).update(body).digest('base64url')}`
}

export function decodeJwt (token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
}

export function decodeJwtHeader (token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())
}
