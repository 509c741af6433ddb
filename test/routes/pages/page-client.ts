import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'

/** A browser's cookie jar over inject: keeps what Set-Cookie sets, drops what it clears. */
export function browser (app: FastifyInstance) {
  const jar = new Map<string, string>()
  return {
    jar,
    async request (options: InjectOptions): Promise<LightMyRequestResponse> {
      const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ')
      const response = await app.inject({ ...options, headers: { accept: 'text/html', ...(cookie === '' ? {} : { cookie }), ...options.headers } })
      for (const set of response.cookies) {
        if (set.value === '' || (set.expires !== undefined && set.expires.getTime() <= Date.now())) jar.delete(set.name)
        else jar.set(set.name, set.value)
      }
      return response
    },
    async submit (url: string, fields: Record<string, string>): Promise<LightMyRequestResponse> {
      return await this.request({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString() })
    }
  }
}

/** The CSRF token of the (first) form in a page. */
export const csrfOf = (html: string): string => {
  const match = /name="csrf" value="([^"]+)"/.exec(html)
  if (match === null) throw new Error('no csrf field in the page')
  return match[1]!
}
