package smsc;

import java.io.BufferedReader;
import java.io.FileWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Date;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.DelayQueue;
import java.util.concurrent.Delayed;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.jsmpp.SMPPConstant;
import org.jsmpp.bean.BindType;
import org.jsmpp.bean.CancelSm;
import org.jsmpp.bean.DataSm;
import org.jsmpp.bean.ESMClass;
import org.jsmpp.bean.GSMSpecificFeature;
import org.jsmpp.bean.InterfaceVersion;
import org.jsmpp.bean.MessageMode;
import org.jsmpp.bean.MessageType;
import org.jsmpp.bean.NumberingPlanIndicator;
import org.jsmpp.bean.OptionalParameter;
import org.jsmpp.bean.QuerySm;
import org.jsmpp.bean.RawDataCoding;
import org.jsmpp.bean.RegisteredDelivery;
import org.jsmpp.bean.ReplaceSm;
import org.jsmpp.bean.SubmitMulti;
import org.jsmpp.bean.SubmitSm;
import org.jsmpp.bean.TypeOfNumber;
import org.jsmpp.bean.BroadcastSm;
import org.jsmpp.bean.CancelBroadcastSm;
import org.jsmpp.bean.QueryBroadcastSm;
import org.jsmpp.extra.ProcessRequestException;
import org.jsmpp.extra.SessionState;
import org.jsmpp.session.BindRequest;
import org.jsmpp.session.BroadcastSmResult;
import org.jsmpp.session.DataSmResult;
import org.jsmpp.session.QueryBroadcastSmResult;
import org.jsmpp.session.QuerySmResult;
import org.jsmpp.session.SMPPServerSession;
import org.jsmpp.session.SMPPServerSessionListener;
import org.jsmpp.session.ServerMessageReceiverListener;
import org.jsmpp.session.Session;
import org.jsmpp.session.SubmitMultiResult;
import org.jsmpp.session.SubmitSmResult;
import org.jsmpp.session.connection.socket.SSLServerSocketConnectionFactory;
import org.jsmpp.util.MessageId;

/**
 * A store-and-forward SMSC for tests and benchmarks, on the server side of jsmpp.
 *
 * <p>What it accepted is kept in a journal (JSON lines, one per accepted submit_sm, then one per acknowledged
 * receipt), so a restarted SMSC still owes the receipts it had not delivered, and a test can count exactly what
 * reached it. Faults on request: every Nth submit throttled (ESME_RTHROTTLED, then ESME_RMSGQFUL), destinations
 * refused or undeliverable by prefix, and a halt right after the Nth submit was journaled but before its answer (a
 * crash at the worst moment). Mobile-originated messages are injected on stdin: {@code MO <from> <to> <text>}.
 *
 * <p>Options: --port P --system-id S --password W --journal FILE [--throttle-every N] [--reject-prefix D]
 * [--undeliverable-prefix D] [--halt-after N] [--receipt-delay-ms MS] [--no-echo-reference] [--tls]
 */
public final class TestSmsc implements ServerMessageReceiverListener {
  private final String systemId;
  private final String password;
  private final PrintWriter journal;
  private final int throttleEvery;
  private final String rejectPrefix;
  private final String undeliverablePrefix;
  private final long haltAfter;
  private final long receiptDelayMs;
  private final boolean echoReference;
  private final AtomicLong submits = new AtomicLong();
  private final AtomicLong accepted = new AtomicLong();
  private final AtomicLong idCounter = new AtomicLong();
  private final long idBase = System.currentTimeMillis();
  private final List<SMPPServerSession> receivers = new CopyOnWriteArrayList<>();
  private final DelayQueue<Receipt> receipts = new DelayQueue<>();

  private TestSmsc(Map<String, String> opts) throws IOException {
    systemId = opts.getOrDefault("system-id", "smppclient");
    password = opts.getOrDefault("password", "password");
    throttleEvery = Integer.parseInt(opts.getOrDefault("throttle-every", "0"));
    rejectPrefix = opts.get("reject-prefix");
    undeliverablePrefix = opts.get("undeliverable-prefix");
    haltAfter = Long.parseLong(opts.getOrDefault("halt-after", "0"));
    receiptDelayMs = Long.parseLong(opts.getOrDefault("receipt-delay-ms", "50"));
    echoReference = !opts.containsKey("no-echo-reference");
    Path file = Path.of(opts.getOrDefault("journal", "smsc-journal.jsonl"));
    replay(file);
    journal = new PrintWriter(new FileWriter(file.toFile(), StandardCharsets.UTF_8, true), false);
  }

  /** Receipts owed from a previous run: accepted, asked for, and never acknowledged by the ESME. */
  private void replay(Path file) throws IOException {
    if (!Files.exists(file)) return;
    Map<String, Receipt> owed = new LinkedHashMap<>();
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      Map<String, String> rec = Json.parse(line);
      if ("accepted".equals(rec.get("event")) && "1".equals(rec.get("receipt"))) {
        owed.put(rec.get("id"), new Receipt(rec.get("id"), rec.get("to"), rec.get("from"), rec.get("stat"),
            rec.get("umr") == null ? -1 : Integer.parseInt(rec.get("umr")), Long.parseLong(rec.get("at")), System.currentTimeMillis()));
      } else if ("receipt-acked".equals(rec.get("event"))) {
        owed.remove(rec.get("id"));
      }
    }
    receipts.addAll(owed.values());
  }

  private synchronized void write(Map<String, Object> record) {
    journal.println(Json.write(record));
    journal.flush();
  }

  private static void say(String line) {
    synchronized (System.out) {
      System.out.println(line);
      System.out.flush();
    }
  }

  @Override
  public SubmitSmResult onAcceptSubmitSm(SubmitSm submit, SMPPServerSession session) throws ProcessRequestException {
    long n = submits.incrementAndGet();
    if (throttleEvery > 0 && n % throttleEvery == 0) {
      int status = (n / throttleEvery) % 2 == 1 ? SMPPConstant.STAT_ESME_RTHROTTLED : SMPPConstant.STAT_ESME_RMSGQFUL;
      throw new ProcessRequestException("throttled", status);
    }
    String to = submit.getDestAddress();
    if (rejectPrefix != null && to.startsWith(rejectPrefix)) {
      throw new ProcessRequestException("invalid destination", SMPPConstant.STAT_ESME_RINVDSTADR);
    }
    String id = Long.toHexString(idBase) + String.format("%06x", idCounter.incrementAndGet());
    boolean wantsReceipt = (submit.getRegisteredDelivery() & 0x03) != 0;
    String stat = undeliverablePrefix != null && to.startsWith(undeliverablePrefix) ? "UNDELIV" : "DELIVRD";
    OptionalParameter umrParam = submit.getOptionalParameter(OptionalParameter.Tag.USER_MESSAGE_REFERENCE);
    int umr = umrParam instanceof OptionalParameter.Short s ? Short.toUnsignedInt(s.getValue()) : -1;
    Map<String, Object> record = new LinkedHashMap<>();
    record.put("event", "accepted");
    record.put("id", id);
    record.put("systemId", systemId);
    record.put("to", to);
    record.put("from", submit.getSourceAddr());
    record.put("dataCoding", Byte.toUnsignedInt(submit.getDataCoding()));
    record.put("esmClass", Byte.toUnsignedInt(submit.getEsmClass()));
    record.put("registeredDelivery", Byte.toUnsignedInt(submit.getRegisteredDelivery()));
    record.put("validityPeriod", submit.getValidityPeriod() == null ? "" : submit.getValidityPeriod());
    record.put("shortMessage", HexFormat.of().formatHex(submit.getShortMessage() == null ? new byte[0] : submit.getShortMessage()));
    OptionalParameter payload = submit.getOptionalParameter(OptionalParameter.Tag.MESSAGE_PAYLOAD);
    if (payload != null) record.put("messagePayload", HexFormat.of().formatHex(payload.serialize()).substring(8));
    for (OptionalParameter.Tag tag : new OptionalParameter.Tag[] {OptionalParameter.Tag.SAR_MSG_REF_NUM, OptionalParameter.Tag.SAR_TOTAL_SEGMENTS, OptionalParameter.Tag.SAR_SEGMENT_SEQNUM}) {
      OptionalParameter p = submit.getOptionalParameter(tag);
      if (p instanceof OptionalParameter.Short s) record.put(tag.name(), Short.toUnsignedInt(s.getValue()));
      if (p instanceof OptionalParameter.Byte b) record.put(tag.name(), Byte.toUnsignedInt(b.getValue()));
    }
    if (umr >= 0) record.put("umr", umr);
    record.put("stat", stat);
    record.put("receipt", wantsReceipt ? "1" : "0");
    record.put("at", System.currentTimeMillis());
    write(record);
    if (wantsReceipt) receipts.add(new Receipt(id, to, submit.getSourceAddr(), stat, umr, System.currentTimeMillis(), System.currentTimeMillis() + receiptDelayMs));
    if (haltAfter > 0 && accepted.incrementAndGet() == haltAfter) {
      say("HALT after submit " + id);
      Runtime.getRuntime().halt(3);
    }
    try {
      return new SubmitSmResult(new MessageId(id), new OptionalParameter[0]);
    } catch (Exception e) {
      throw new ProcessRequestException(e.getMessage(), SMPPConstant.STAT_ESME_RSYSERR);
    }
  }

  /** Sends owed receipts to a bound receiver of the account, in turn; one that could not go waits and goes again. */
  private void receiptLoop() {
    SimpleDateFormat format = new SimpleDateFormat("yyMMddHHmm");
    while (true) {
      Receipt r;
      try {
        r = receipts.take();
      } catch (InterruptedException e) {
        return;
      }
      SMPPServerSession target = receivers.stream().filter(s -> s.getSessionState().isReceivable()).findFirst().orElse(null);
      if (target == null) {
        receipts.add(r.retryIn(300));
        continue;
      }
      String date = format.format(new Date(r.at));
      String err = "DELIVRD".equals(r.stat) ? "000" : "001";
      String text = "id:" + r.id + " sub:001 dlvrd:" + ("DELIVRD".equals(r.stat) ? "001" : "000") + " submit date:" + date
          + " done date:" + format.format(new Date()) + " stat:" + r.stat + " err:" + err + " text:";
      List<OptionalParameter> tlvs = new ArrayList<>();
      tlvs.add(new OptionalParameter.COctetString(OptionalParameter.Tag.RECEIPTED_MESSAGE_ID.code(), r.id));
      tlvs.add(new OptionalParameter.Byte(OptionalParameter.Tag.MESSAGE_STATE, (byte) ("DELIVRD".equals(r.stat) ? 2 : 5)));
      if (echoReference && r.umr >= 0) tlvs.add(new OptionalParameter.Short(OptionalParameter.Tag.USER_MESSAGE_REFERENCE, (short) r.umr));
      try {
        target.deliverShortMessage("", TypeOfNumber.INTERNATIONAL, NumberingPlanIndicator.ISDN, r.to,
            TypeOfNumber.UNKNOWN, NumberingPlanIndicator.UNKNOWN, r.from == null ? "" : r.from,
            new ESMClass(MessageMode.DEFAULT, MessageType.SMSC_DEL_RECEIPT, GSMSpecificFeature.DEFAULT), (byte) 0, (byte) 0,
            new RegisteredDelivery(0), new RawDataCoding((byte) 0), text.getBytes(StandardCharsets.US_ASCII),
            tlvs.toArray(new OptionalParameter[0]));
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("event", "receipt-acked");
        record.put("id", r.id);
        write(record);
      } catch (Exception e) {
        // Refused or unanswered: owed still, so it goes again (an ESME must take a receipt twice in its stride).
        receipts.add(r.retryIn(500));
      }
    }
  }

  private void injectMobileOriginated() {
    try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
      String line;
      while ((line = in.readLine()) != null) {
        String[] parts = line.split(" ", 4);
        if (parts.length < 4 || !"MO".equals(parts[0])) continue;
        SMPPServerSession target = receivers.stream().filter(s -> s.getSessionState().isReceivable()).findFirst().orElse(null);
        if (target == null) {
          say("MO-FAILED no receiver bound");
          continue;
        }
        try {
          target.deliverShortMessage("", TypeOfNumber.INTERNATIONAL, NumberingPlanIndicator.ISDN, parts[1],
              TypeOfNumber.INTERNATIONAL, NumberingPlanIndicator.ISDN, parts[2], new ESMClass(), (byte) 0, (byte) 0,
              new RegisteredDelivery(0), new RawDataCoding((byte) 0), parts[3].getBytes(StandardCharsets.ISO_8859_1));
          say("MO-DELIVERED " + parts[1]);
        } catch (Exception e) {
          say("MO-FAILED " + e);
        }
      }
    } catch (IOException e) {
      // stdin closed: nothing more to inject
    }
  }

  private void serve(int port, boolean tls) throws IOException {
    // TLS: the key comes from the standard javax.net.ssl.keyStore properties.
    try (SMPPServerSessionListener listener = tls ? new SMPPServerSessionListener(port, new SSLServerSocketConnectionFactory()) : new SMPPServerSessionListener(port)) {
      listener.setPduProcessorDegree(8);
      listener.setQueueCapacity(1000);
      say("LISTENING " + port);
      while (true) {
        SMPPServerSession session = listener.accept();
        session.setMessageReceiverListener(this);
        session.setEnquireLinkTimer(30_000);
        new Thread(() -> bind(session), "bind-" + session.getSessionId()).start();
      }
    }
  }

  private void bind(SMPPServerSession session) {
    try {
      BindRequest request = session.waitForBind(5000);
      if (!systemId.equals(request.getSystemId())) {
        request.reject(SMPPConstant.STAT_ESME_RINVSYSID);
        say("BIND-REFUSED system_id " + request.getSystemId());
        return;
      }
      if (!password.equals(request.getPassword())) {
        request.reject(SMPPConstant.STAT_ESME_RINVPASWD);
        say("BIND-REFUSED password");
        return;
      }
      request.accept(systemId, InterfaceVersion.IF_34);
      if (request.getBindType() != BindType.BIND_TX) receivers.add(session);
      session.addSessionStateListener((SessionState now, SessionState before, Session s) -> {
        if (!now.isBound()) receivers.remove(session);
        // UNBOUND: the ESME said goodbye (unbind); CLOSED straight from BOUND_*: the connection just went.
        say((now == SessionState.CLOSED ? "CLOSED " : "STATE " + now + " ") + request.getBindType());
      });
      say("BOUND " + request.getBindType());
    } catch (Exception e) {
      say("BIND-FAILED " + e);
    }
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> opts = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      String key = args[i].replaceFirst("^--", "");
      if (key.equals("no-echo-reference") || key.equals("tls")) opts.put(key, "1");
      else opts.put(key, args[++i]);
    }
    TestSmsc smsc = new TestSmsc(opts);
    new Thread(smsc::receiptLoop, "receipts").start();
    Thread mo = new Thread(smsc::injectMobileOriginated, "mo");
    mo.setDaemon(true);
    mo.start();
    smsc.serve(Integer.parseInt(opts.getOrDefault("port", "2775")), opts.containsKey("tls"));
  }

  @Override
  public SubmitMultiResult onAcceptSubmitMulti(SubmitMulti submitMulti, SMPPServerSession source) throws ProcessRequestException {
    throw new ProcessRequestException("not supported", SMPPConstant.STAT_ESME_RINVCMDID);
  }

  @Override
  public QuerySmResult onAcceptQuerySm(QuerySm querySm, SMPPServerSession source) throws ProcessRequestException {
    throw new ProcessRequestException("not supported", SMPPConstant.STAT_ESME_RINVCMDID);
  }

  @Override
  public void onAcceptReplaceSm(ReplaceSm replaceSm, SMPPServerSession source) throws ProcessRequestException {
    throw new ProcessRequestException("not supported", SMPPConstant.STAT_ESME_RINVCMDID);
  }

  @Override
  public void onAcceptCancelSm(CancelSm cancelSm, SMPPServerSession source) throws ProcessRequestException {
    throw new ProcessRequestException("not supported", SMPPConstant.STAT_ESME_RINVCMDID);
  }

  @Override
  public BroadcastSmResult onAcceptBroadcastSm(BroadcastSm broadcastSm, SMPPServerSession source) throws ProcessRequestException {
    throw new ProcessRequestException("not supported", SMPPConstant.STAT_ESME_RINVCMDID);
  }

  @Override
  public void onAcceptCancelBroadcastSm(CancelBroadcastSm cancelBroadcastSm, SMPPServerSession source) throws ProcessRequestException {
    throw new ProcessRequestException("not supported", SMPPConstant.STAT_ESME_RINVCMDID);
  }

  @Override
  public QueryBroadcastSmResult onAcceptQueryBroadcastSm(QueryBroadcastSm queryBroadcastSm, SMPPServerSession source) throws ProcessRequestException {
    throw new ProcessRequestException("not supported", SMPPConstant.STAT_ESME_RINVCMDID);
  }

  @Override
  public DataSmResult onAcceptDataSm(DataSm dataSm, Session source) throws ProcessRequestException {
    throw new ProcessRequestException("not supported", SMPPConstant.STAT_ESME_RINVCMDID);
  }

  /** A receipt owed to the ESME, due at a time. */
  private record Receipt(String id, String to, String from, String stat, int umr, long at, long dueAt) implements Delayed {
    Receipt retryIn(long ms) {
      return new Receipt(id, to, from, stat, umr, at, System.currentTimeMillis() + ms);
    }

    @Override
    public long getDelay(TimeUnit unit) {
      return unit.convert(dueAt - System.currentTimeMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public int compareTo(Delayed o) {
      return Long.compare(dueAt, ((Receipt) o).dueAt);
    }
  }

  /** Flat JSON objects of strings and numbers: all the journal holds. */
  static final class Json {
    static String write(Map<String, Object> record) {
      StringBuilder b = new StringBuilder("{");
      for (Map.Entry<String, Object> e : record.entrySet()) {
        if (b.length() > 1) b.append(',');
        b.append('"').append(e.getKey()).append("\":");
        Object v = e.getValue();
        if (v instanceof Number) b.append(v);
        else b.append('"').append(String.valueOf(v).replace("\\", "\\\\").replace("\"", "\\\"")).append('"');
      }
      return b.append('}').toString();
    }

    static Map<String, String> parse(String line) {
      Map<String, String> out = new LinkedHashMap<>();
      int i = line.indexOf('{') + 1;
      while (i < line.length()) {
        int ks = line.indexOf('"', i);
        if (ks < 0) break;
        int ke = line.indexOf('"', ks + 1);
        String key = line.substring(ks + 1, ke);
        int colon = line.indexOf(':', ke);
        int vs = colon + 1;
        String value;
        if (line.charAt(vs) == '"') {
          StringBuilder v = new StringBuilder();
          int j = vs + 1;
          while (line.charAt(j) != '"') {
            if (line.charAt(j) == '\\') j++;
            v.append(line.charAt(j++));
          }
          value = v.toString();
          i = j + 1;
        } else {
          int end = line.indexOf(',', vs);
          if (end < 0) end = line.indexOf('}', vs);
          value = line.substring(vs, end).trim();
          i = end;
        }
        out.put(key, value);
        i = line.indexOf(',', i);
        if (i < 0) break;
        i++;
      }
      return out;
    }
  }
}
