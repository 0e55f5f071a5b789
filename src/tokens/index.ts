// API tokens, as the rest of the app uses them.
export { tokenGrants, type Authenticator, type GrantRefusal, type IssuedTokens, type TokenGrants } from './grants.js';
export { refreshTokens, type ApiSignIn, type ApiSignIns, type RefreshTokens } from './refresh.js';
export { tokensRepository, type TokensRepository } from './repository.js';
export { tokenService, type AccessClaims, type IssuedToken, type TokenRefusal, type TokenService } from './service.js';
