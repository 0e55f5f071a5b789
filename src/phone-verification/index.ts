// Phone verification without an account (the JSON API's), as the rest of the app uses it.
export { phoneVerificationsRepository } from './repository.js';
export {
  phoneVerificationService,
  type CheckRefusal,
  type PhoneVerificationService,
  type RequestLimit,
  type VerificationRefusal,
} from './service.js';
