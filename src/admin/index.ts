// The admin feature, as the web pages use it.
export { adminRepository, PAGE_SIZE, type AdminRepository, type AuditFilter } from './repository.js';
export { adminService, isUserAction, USER_ACTIONS, type ActionRefusal, type AdminService, type BenchResult, type UserAction } from './service.js';
