export { createLimiter, checkRate, MIN_BYTE_BURST, DEFAULT_BURST_SECONDS } from './limiter.js';
export type { Limiter, LimiterOptions, LimiterAcquireOptions, LimiterStats } from './limiter.js';
export { createPolicy, validateRule } from './policy.js';
export type { Policy, PolicyOptions, RuleStats, Acquirer } from './policy.js';
export { qosLayer } from './layer.js';
export { throttle } from './throttle.js';
export type { ThrottleOptions } from './throttle.js';
export { parseQosCsv, loadQosFile, formatQosCsv, QosFileError } from './csv.js';
export type { AccessKind, AcquireOptions, Limits, QosPolicy, QosRule } from '@shylock/core';
