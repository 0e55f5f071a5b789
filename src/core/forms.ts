// Form fields arrive as strings, arrays (a repeated field) or nothing at all; anything but a
// single string reads as empty, so validation says "enter ..." instead of crashing.
import { z } from 'zod';

export function formText(maxLength?: number) {
  return z.preprocess((value) => (typeof value === 'string' ? value : ''), maxLength ? z.string().max(maxLength) : z.string());
}
