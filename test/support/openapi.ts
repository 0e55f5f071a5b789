// Validates real responses against the app's own OpenAPI document (/api/openapi.json), with a
// JSON Schema 2020-12 validator: the body against the schema of its path, method and status,
// and the headers the document promises. Any response the document does not describe fails.
import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { OPENAPI_DOCUMENT } from '../../src/api/openapi.js';

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addSchema(OPENAPI_DOCUMENT, 'openapi.json');

const pointer = (...parts: string[]) => parts.map((part) => part.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

interface Described {
  content?: Record<string, unknown>;
  headers?: Record<string, unknown>;
}

/** Asserts that `response` to `method path` is what the document describes. */
export function assertDescribed(
  method: string,
  path: string,
  response: { status: number; headers: Record<string, unknown>; body: unknown; text?: string },
): void {
  const operation = (
    OPENAPI_DOCUMENT.paths as Record<string, Record<string, { responses: Record<string, Described> }>>
  )[path]?.[method.toLowerCase()];
  assert.ok(operation, `the document describes ${method} ${path}`);
  const described = operation.responses[String(response.status)];
  assert.ok(described, `the document describes ${response.status} for ${method} ${path}: ${response.text ?? ''}`);
  if (described.content?.['application/json']) {
    assert.match(String(response.headers['content-type']), /^application\/json/);
    const validate = ajv.getSchema(
      `openapi.json#/${pointer('paths', path, method.toLowerCase(), 'responses', String(response.status), 'content', 'application/json', 'schema')}`,
    );
    assert.ok(validate, 'the schema compiles');
    const valid = validate(response.body);
    assert.ok(
      valid,
      `${method} ${path} ${response.status} matches the document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(response.body)}`,
    );
  }
  for (const header of Object.keys(described.headers ?? {}))
    assert.ok(
      response.headers[header.toLowerCase()] !== undefined,
      `${method} ${path} ${response.status} sends ${header}`,
    );
}
