import { createRequire } from 'node:module';

// The package's type declarations sit in its ESM half, which this CommonJS project cannot import statically;
// its CommonJS build is loaded instead, typed by what is used of it.
type ZonesOfCountry = (country: string, options?: { deprecated?: boolean }) => Array<{ name: string; aliasOf: string | null }> | undefined;
const { getTimezonesForCountry } = createRequire(__filename)('countries-and-timezones') as { getTimezonesForCountry: ZonesOfCountry };

/** The zones a country's numbers may be in (canonical IANA names, no aliases); empty when unknown. */
export function zonesOfCountry(country: string | undefined): string[] {
  if (!country) return [];
  return getTimezonesForCountry(country, { deprecated: false })
    ?.filter((z) => !z.aliasOf)
    .map((z) => z.name) ?? [];
}

