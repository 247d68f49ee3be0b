/** The part of npm `smpp` (0.5) this project uses; the package ships no types. */
declare module 'smpp' {
  import type { EventEmitter } from 'node:events';
  import type { Socket } from 'node:net';

  export interface PDU {
    command: string;
    command_id: number;
    command_status: number;
    sequence_number: number;
    [field: string]: unknown;
    isResponse(): boolean;
    response(options?: Record<string, unknown>): PDU;
  }

  export interface Session extends EventEmitter {
    socket: Socket;
    send(pdu: PDU, responseCallback?: (pdu: PDU) => void, sendCallback?: () => void): boolean;
    close(callback?: () => void): void;
    destroy(callback?: () => void): void;
  }

  export const PDU: new (command: string, options?: Record<string, unknown>) => PDU;

  export function connect(options: { url: string; [key: string]: unknown }, listener?: () => void): Session;

  export const errors: Record<string, number>;
}
