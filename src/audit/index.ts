// The audit trail, as the rest of the app uses it.
export { auditLog, contextOf, type AuditEntry, type AuditLog, type AuditType, type RequestContext, type SignInActivity, type SignInAttempt } from './audit-log.js';
export { describeBrowser } from './user-agent.js';
