// Entry of the SQLite worker thread: worker threads do not inherit the parent's TypeScript loader (tsx under
// `npm start`, ts-jest under jest), so the thread registers tsx's require hook itself, then loads its code.
require('tsx/cjs');
require('./sqlite-thread.ts');
