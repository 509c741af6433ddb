import neostandard from 'neostandard'

// neostandard, as fastify/demo uses it: standard style for TypeScript and JavaScript.
export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'client/dist/**', 'coverage/**', '.tap/**', '.dev/**', 'test-artifacts/**']
  }),
  {
    rules: {
      // `void promise` as a statement marks a promise deliberately left floating (timers, signal handlers).
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
