/** Which ceiling refused a wait. */
export type WaitCeiling = 'ip' | 'instance'

/**
 * Ceilings on the open waits of one instance (SSE streams and long-polls of the cross-device
 * flow): at most `perClient` for one client (an IP, IPv6 grouped by /64) and `perInstance` in all.
 * Without them one IP could hold every request it may make × 4 waits × the request's life
 * (about 1,200 open streams per instance at the default limits). Counted in memory: a wait is a
 * connection to this instance, and ends with it (or with the instance).
 *
 * `take` is synchronous, so parallel requests cannot both take the last place.
 */
export function createWaitCeilings ({ perClient, perInstance }: { perClient: number, perInstance: number }) {
  const byClient = new Map<string, number>()
  let open = 0

  return {
    /** Open waits on this instance now. */
    get open (): number { return open },

    /** Open waits of one client on this instance now. */
    openOf (client: string): number { return byClient.get(client) ?? 0 },

    /**
     * Takes a place for one wait of `client`: `release` gives it back (calling it again does
     * nothing). Refused, with the ceiling that refused it, when the client or the instance is full.
     */
    take (client: string): { release: () => void } | { refused: WaitCeiling } {
      const mine = byClient.get(client) ?? 0
      if (mine >= perClient) return { refused: 'ip' }
      if (open >= perInstance) return { refused: 'instance' }
      byClient.set(client, mine + 1)
      open++
      let released = false
      return {
        release: () => {
          if (released) return
          released = true
          open--
          const left = (byClient.get(client) ?? 1) - 1
          if (left === 0) byClient.delete(client)
          else byClient.set(client, left)
        }
      }
    }
  }
}

export type WaitCeilings = ReturnType<typeof createWaitCeilings>
