// Prisma's schema engine, compiled to WebAssembly, driven through a pg driver adapter.
// The native engine binary cannot be downloaded on our machines, and on Node 20 the package's
// `.wasm` file cannot be imported as an ES module, so it is instantiated by hand here.
import { readFile } from 'node:fs/promises';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  bindMigrationAwareSqlAdapterFactory,
  ColumnTypeEnum,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import pg from 'pg';
import * as bindings from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { SchemaEngine } from '@prisma/schema-engine-wasm';

// The engine reports a Rust panic through this global before it traps; keep the message so
// the error that reaches the caller says what went wrong.
let lastPanic: string | undefined;
(globalThis as { PRISMA_WASM_PANIC_REGISTRY?: unknown }).PRISMA_WASM_PANIC_REGISTRY = {
  set_message(message: string) {
    lastPanic = message;
  },
};

// TypeScript declares WebAssembly only in its DOM library, which a server does not load.
declare const WebAssembly: {
  instantiate(
    bytes: Uint8Array,
    imports: Record<string, unknown>,
  ): Promise<{ instance: { exports: Record<string, unknown> } }>;
};

let loaded: Promise<typeof bindings> | undefined;

// The engine's async runtime leaves ~10 s timers behind after it is freed; unref'd, they no
// longer keep a finished CLI or a stopped server alive.
function withUnrefTimers(imports: typeof bindings): Record<string, unknown> {
  const patched: Record<string, unknown> = { ...imports };
  for (const name of Object.keys(imports).filter((key) => key.startsWith('__wbg_setTimeout_'))) {
    patched[name] = (callback: () => void, ms: number) => setTimeout(callback, ms >>> 0).unref();
  }
  return patched;
}

function loadBindings(): Promise<typeof bindings> {
  loaded ??= (async () => {
    // The package exports only its JS files; the .wasm file sits beside them.
    const wasmUrl = new URL(
      'schema_engine_bg.wasm',
      import.meta.resolve('@prisma/schema-engine-wasm/schema_engine_bg'),
    );
    const { instance } = await WebAssembly.instantiate(await readFile(wasmUrl), {
      './schema_engine_bg.js': withUnrefTimers(bindings),
    });
    bindings.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return bindings;
  })();
  return loaded;
}

// Postgres' one-byte "char" type (OID 18) appears in the catalog queries the engine runs to
// describe a schema (pg_constraint.contype, ...). @prisma/adapter-pg has no mapping for it and
// rejects the whole result, while the engine expects a Character column. The pool relabels
// such columns as text and remembers where they were, per SQL text (the same query always has
// the same columns); the adapter wrapper then reports them to the engine as Character.
const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;

class SchemaEnginePool extends pg.Pool {
  readonly charColumnsBySql = new Map<string, number[]>();

  // pg's overloads make a typed override impractical; the adapter always passes a config object.
  override query(...args: unknown[]): never {
    const sql = (args[0] as { text?: string } | undefined)?.text;
    const pending = (super.query as (...a: unknown[]) => Promise<pg.QueryResult>)(...args);
    return pending.then((result) => {
      const charColumns: number[] = [];
      result.fields?.forEach((field, index) => {
        if (field.dataTypeID !== PG_CHAR_OID) return;
        field.dataTypeID = PG_TEXT_OID;
        charColumns.push(index);
      });
      if (sql && charColumns.length) this.charColumnsBySql.set(sql, charColumns);
      return result;
    }) as never;
  }
}

function withCharColumns(adapter: SqlDriverAdapter, pool: SchemaEnginePool): SqlDriverAdapter {
  return new Proxy(adapter, {
    get(target, property, receiver) {
      if (property !== 'queryRaw') return Reflect.get(target, property, receiver) as unknown;
      return async (query: Parameters<SqlDriverAdapter['queryRaw']>[0]) => {
        const result = await target.queryRaw(query);
        for (const index of pool.charColumnsBySql.get(query.sql) ?? []) {
          result.columnTypes[index] = ColumnTypeEnum.Character;
        }
        return result;
      };
    },
  });
}

function adapterFactory(pool: SchemaEnginePool): SqlMigrationAwareDriverAdapterFactory {
  const inner = new PrismaPg(pool);
  return {
    provider: inner.provider,
    adapterName: inner.adapterName,
    connect: async () => withCharColumns(await inner.connect(), pool),
    connectToShadowDb: () => {
      throw new Error('No shadow database: migrations are diffed against a scratch database.');
    },
  };
}

export interface SchemaFile {
  path: string;
  content: string;
}

/**
 * Runs `work` with a schema engine connected to `databaseUrl`, then frees the engine and
 * closes its connection pool whatever happens.
 */
export async function withSchemaEngine<T>(
  databaseUrl: string,
  schema: SchemaFile,
  work: (engine: SchemaEngine) => Promise<T>,
  log: (message: string) => void = () => {},
): Promise<T> {
  const { SchemaEngine: Engine } = await loadBindings();
  // allowExitOnIdle: pg's idle timers must not hold the process open after the pool has ended.
  const pool = new SchemaEnginePool({ connectionString: databaseUrl, max: 2, allowExitOnIdle: true });
  try {
    const engine = await Engine.new(
      { datamodels: [[schema.path, schema.content]] },
      log,
      bindMigrationAwareSqlAdapterFactory(adapterFactory(pool)),
    );
    try {
      return await work(engine);
    } catch (error) {
      if (lastPanic && error instanceof Error) error.message += ` (schema engine: ${lastPanic})`;
      throw error;
    } finally {
      lastPanic = undefined;
      engine.free();
    }
  } finally {
    await pool.end();
  }
}
