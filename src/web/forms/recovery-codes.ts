// What the recovery code form accepts, read with parseForm (core/forms); readRecoveryCode
// (factors/recovery-codes) judges the rest.
import { z } from 'zod';
import { formText } from '../../core/forms.js';
import { RECOVERY_CODE_EXAMPLE } from '../messages.js';

// Room for a code typed with spaces and dashes.
const MAX_TYPED_RECOVERY_CODE = 64;

export const recoveryCodeForm = z.object({
  code: formText(MAX_TYPED_RECOVERY_CODE, `A recovery code is 10 letters and digits, ${RECOVERY_CODE_EXAMPLE}.`),
});
