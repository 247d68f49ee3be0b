/** A write refused by a unique index or primary key, on SQLite or PostgreSQL. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || /UNIQUE constraint|duplicate key/i.test(e?.message ?? '');
}

/**
 * Runs `work` (which takes the next free number and inserts under it) again while it loses a race for that number
 * to a concurrent insert (PostgreSQL's snapshot lets two transactions read the same maximum): each round one wins.
 * `lostRace` tells a lost race from a unique violation the caller must see (a name taken, say).
 */
export async function retryNumberRace<T>(work: () => Promise<T>, lostRace: (err: unknown) => boolean = isUniqueViolation): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (!lostRace(err) || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 5 * (attempt + 1))));
    }
  }
}
