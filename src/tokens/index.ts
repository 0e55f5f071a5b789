// API tokens, as the rest of the app uses them.
export { tokensRepository, type TokensRepository } from './repository.js';
export { tokenService, type AccessClaims, type IssuedToken, type TokenRefusal, type TokenService } from './service.js';
