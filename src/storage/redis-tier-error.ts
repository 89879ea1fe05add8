// The shared tier's typed error and its codes.

export type RedisTierErrorCode = 'TIER_UNAVAILABLE' | 'TIER_TIMEOUT' | 'TIER_CORRUPT' | 'TIER_REFUSED';

export class RedisTierError extends Error {
  constructor(readonly code: RedisTierErrorCode, message: string) { super(message); this.name = 'RedisTierError'; }
}
