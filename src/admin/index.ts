// The admin feature, as the web pages use it.
export { adminRepository, type AdminRepository } from './repository.js';
export {
  adminService,
  isUserAction,
  PAGE_SIZE,
  USER_ACTIONS,
  type ActionRefusal,
  type AdminService,
  type AuditEventWithUser,
  type AuditFilter,
  type BenchLimited,
  type BenchResult,
  type ListedUser,
  type UserAction,
} from './service.js';
