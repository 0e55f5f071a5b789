// The audit trail, as the rest of the app uses it.
export {
  auditLog,
  contextOf,
  type AuditEntry,
  type AuditEventFilter,
  type AuditEventRecord,
  type AuditLog,
  type RequestContext,
  type SignInActivity,
  type SignInAttempt,
} from './audit-log.js';
export { AUDIT_TYPES, isAuditType, type AuditType } from './events.js';
export { describeBrowser } from './user-agent.js';
