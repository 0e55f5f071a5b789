// Loaded only by `prisma dev`, which this project does not use (see package.json here).
throw new Error(
  '`prisma dev` is not part of this project: `npm start` runs the embedded PGlite database, and DATABASE_URL points at any Postgres.',
);
