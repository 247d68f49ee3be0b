/**
 * The Infobip message status table: the one vocabulary for responses, reports and logs across every dialect.
 * Group and status ids are Infobip's; CANCELED is this product's extension (Infobip has no status for a message
 * withdrawn by its sender), kept in the REJECTED group so clients that switch on groupId treat it as final.
 */
export type StatusGroupName = 'ACCEPTED' | 'PENDING' | 'UNDELIVERABLE' | 'DELIVERED' | 'EXPIRED' | 'REJECTED';

export interface MessageStatus {
  groupId: number;
  groupName: StatusGroupName;
  id: number;
  name: string;
  description: string;
}

const GROUP_IDS: Record<StatusGroupName, number> = {
  ACCEPTED: 0,
  PENDING: 1,
  UNDELIVERABLE: 2,
  DELIVERED: 3,
  EXPIRED: 4,
  REJECTED: 5,
};

function status(groupName: StatusGroupName, id: number, name: string, description: string): MessageStatus {
  return { groupId: GROUP_IDS[groupName], groupName, id, name, description };
}

export const STATUSES = {
  PENDING_ACCEPTED: status('PENDING', 26, 'PENDING_ACCEPTED', 'Message sent to next instance'),
  PENDING_ENROUTE: status('PENDING', 7, 'PENDING_ENROUTE', 'Message sent to next instance'),
  PENDING_WAITING_DELIVERY: status('PENDING', 3, 'PENDING_WAITING_DELIVERY', 'Message sent, waiting for delivery report'),
  DELIVERED_TO_HANDSET: status('DELIVERED', 5, 'DELIVERED_TO_HANDSET', 'Message delivered to handset'),
  DELIVERED_TO_OPERATOR: status('DELIVERED', 2, 'DELIVERED_TO_OPERATOR', 'Message delivered to operator'),
  UNDELIVERABLE_REJECTED_OPERATOR: status(
    'UNDELIVERABLE',
    4,
    'UNDELIVERABLE_REJECTED_OPERATOR',
    'Message rejected by operator',
  ),
  UNDELIVERABLE_NOT_DELIVERED: status('UNDELIVERABLE', 9, 'UNDELIVERABLE_NOT_DELIVERED', 'Message sent not delivered'),
  EXPIRED_EXPIRED: status('EXPIRED', 15, 'EXPIRED_EXPIRED', 'Message expired'),
  EXPIRED_DLR_UNKNOWN: status('EXPIRED', 29, 'EXPIRED_DLR_UNKNOWN', 'Message expired, delivery report unknown'),
  REJECTED_NETWORK: status('REJECTED', 6, 'REJECTED_NETWORK', 'Network is forbidden'),
  // The number opted out of the account's messages (STOP, an API opt-out): checked right before each submit.
  REJECTED_DND: status('REJECTED', 10, 'REJECTED_DND', 'Destination on DND list'),
  REJECTED_DESTINATION: status('REJECTED', 14, 'REJECTED_DESTINATION', 'Destination rejected'),
  REJECTED_SYSTEM_ERROR: status('REJECTED', 21, 'REJECTED_SYSTEM_ERROR', 'System error'),
  REJECTED_DUPLICATE_MESSAGE_ID: status('REJECTED', 23, 'REJECTED_DUPLICATE_MESSAGE_ID', 'Duplicate message id'),
  REJECTED_MESSAGE_TOO_LONG: status('REJECTED', 25, 'REJECTED_MESSAGE_TOO_LONG', 'Message too long'),
  REJECTED_INVALID_DESTINATION: status('REJECTED', 52, 'REJECTED_INVALID_DESTINATION', 'Invalid destination address'),
  REJECTED_CANCELED: status('REJECTED', 1001, 'REJECTED_CANCELED', 'Message canceled by its sender before it was sent'),
} as const satisfies Record<string, MessageStatus>;

export type StatusName = keyof typeof STATUSES;

export function statusByName(name: string): MessageStatus | undefined {
  return (STATUSES as Record<string, MessageStatus>)[name];
}

/**
 * A message is final once no later report can change it. DELIVERED_TO_OPERATOR is intermediate: the handset
 * report is still to come.
 */
export function isFinalStatus(s: Pick<MessageStatus, 'groupName' | 'name'>): boolean {
  return s.groupName !== 'PENDING' && s.groupName !== 'ACCEPTED' && s.name !== 'DELIVERED_TO_OPERATOR';
}

/** The error object of a report: Infobip's error table; id 0 means "no error". */
export interface MessageError {
  groupId: number;
  groupName: string;
  id: number;
  name: string;
  description: string;
  permanent: boolean;
}

export const NO_ERROR: MessageError = {
  groupId: 0,
  groupName: 'OK',
  id: 0,
  name: 'NO_ERROR',
  description: 'No Error',
  permanent: false,
};

const HANDSET_ABSENT: MessageError = {
  groupId: 1,
  groupName: 'HANDSET_ERRORS',
  id: 27,
  name: 'EC_ABSENT_SUBSCRIBER',
  description: 'Absent Subscriber',
  permanent: false,
};

/**
 * The error object reported with a status: NO_ERROR unless the status itself is a failure with a known cause.
 * `detail` (the provider's own words: an SMPP command status, a receipt's stat/err) joins the description.
 */
export function errorForStatus(statusName: string, detail?: string | null): MessageError {
  const error = errorOfStatus(statusName);
  return detail && error !== NO_ERROR ? { ...error, description: `${error.description} (${detail})` } : error;
}

function errorOfStatus(statusName: string): MessageError {
  if (statusName.startsWith('UNDELIVERABLE')) return HANDSET_ABSENT;
  if (statusName.startsWith('REJECTED_')) {
    const status = statusByName(statusName);
    return {
      groupId: 2,
      groupName: 'USER_ERRORS',
      id: status?.id ?? 0,
      name: statusName,
      description: status?.description ?? statusName,
      permanent: true,
    };
  }
  return NO_ERROR;
}
