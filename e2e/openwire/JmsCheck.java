import java.util.ArrayList;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import javax.jms.BytesMessage;
import javax.jms.Connection;
import javax.jms.ConnectionFactory;
import javax.jms.Destination;
import javax.jms.JMSException;
import javax.jms.MapMessage;
import javax.jms.Message;
import javax.jms.MessageConsumer;
import javax.jms.MessageProducer;
import javax.jms.ObjectMessage;
import javax.jms.Queue;
import javax.jms.Session;
import javax.jms.TemporaryQueue;
import javax.jms.TextMessage;
import javax.jms.TransactionRolledBackException;

import org.apache.activemq.ActiveMQConnectionFactory;

/**
 * JmsCheck drives tandem with ActiveMQ Classic's own JMS client, one scenario
 * per run (the first argument), and prints what it saw for the Go test
 * (e2e/openwire_test.go) to check: "OK name" or "FAIL name: why" lines, and
 * data lines the test parses. It exits 1 when a check failed.
 */
public class JmsCheck {
    static boolean failed;

    static void ok(String name) {
        System.out.println("OK " + name);
    }

    static void fail(String name, String why) {
        System.out.println("FAIL " + name + ": " + why);
        failed = true;
    }

    static void check(String name, boolean cond, String why) {
        if (cond) {
            ok(name);
        } else {
            fail(name, why);
        }
    }

    public static void main(String[] args) throws Exception {
        String mode = args[0];
        String url = args[1];
        try {
            switch (mode) {
                case "features": features(url); break;
                case "produce": produce(url, args[2], Integer.parseInt(args[3])); break;
                case "consume": consume(url, args[2], Integer.parseInt(args[3])); break;
                case "rrfail": rrFail(url, Integer.parseInt(args[2])); break;
                case "durconsume": durconsume(url, args[2], args[3], Integer.parseInt(args[4])); break;
                case "txconsume": txconsume(url, args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4])); break;
                case "txheld": txheld(url, args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4]), Integer.parseInt(args[5])); break;
                case "fromstomp": fromStomp(url); break;
                case "tostomp": toStomp(url); break;
                case "connect": connect(url, args[2], args[3], args.length > 4 ? args[4] : null); break;
                case "dupclient": dupClient(url, args[2]); break;
                default: throw new IllegalArgumentException("unknown mode " + mode);
            }
        } catch (Exception e) {
            System.out.println("EXCEPTION " + e.getClass().getName() + ": " + e.getMessage());
            e.printStackTrace(System.out);
            failed = true;
        }
        System.out.flush();
        System.exit(failed ? 1 : 0);
    }

    static Connection open(String url) throws JMSException {
        ActiveMQConnectionFactory cf = new ActiveMQConnectionFactory(url);
        // ObjectMessage bodies are deserialized only from trusted packages.
        cf.setTrustedPackages(Arrays.asList("java.util", "java.lang"));
        Connection c = cf.createConnection();
        c.start();
        return c;
    }

    /** Request/reply over a temporary queue, a selector, MapMessage and ObjectMessage round trips. */
    static void features(String url) throws Exception {
        Connection requester = open(url);
        Connection replier = open(url);
        try {
            // Request/reply: the replier is another connection, which learns of
            // the requester's temporary queue from the advisory topic.
            Session rs = replier.createSession(false, Session.AUTO_ACKNOWLEDGE);
            MessageConsumer requests = rs.createConsumer(rs.createQueue("jms.requests"));
            MessageProducer replies = rs.createProducer(null);
            Session qs = requester.createSession(false, Session.AUTO_ACKNOWLEDGE);
            TemporaryQueue tq = qs.createTemporaryQueue();
            MessageConsumer replyConsumer = qs.createConsumer(tq);
            TextMessage req = qs.createTextMessage("what time is it?");
            req.setJMSReplyTo(tq);
            req.setJMSCorrelationID("corr-42");
            qs.createProducer(qs.createQueue("jms.requests")).send(req);
            Message got = requests.receive(10000);
            if (got == null) {
                fail("request-reply", "the request never arrived");
            } else {
                Destination replyTo = got.getJMSReplyTo();
                TextMessage answer = rs.createTextMessage("it is now");
                answer.setJMSCorrelationID(got.getJMSCorrelationID());
                replies.send(replyTo, answer);
                Message reply = replyConsumer.receive(10000);
                check("request-reply", reply instanceof TextMessage && "it is now".equals(((TextMessage) reply).getText())
                        && "corr-42".equals(reply.getJMSCorrelationID()) && replyTo instanceof TemporaryQueue,
                        "reply " + reply + " to " + replyTo);
            }
            replyConsumer.close();
            tq.delete();

            // A selector on typed properties.
            Session s = requester.createSession(false, Session.AUTO_ACKNOWLEDGE);
            Queue sq = s.createQueue("jms.selector");
            MessageProducer p = s.createProducer(sq);
            for (int i = 0; i < 10; i++) {
                TextMessage m = s.createTextMessage("m" + i);
                m.setIntProperty("n", i);
                m.setStringProperty("color", i % 2 == 0 ? "red" : "blue");
                p.send(m);
            }
            MessageConsumer sel = s.createConsumer(sq, "n >= 5 AND color = 'red'");
            List<String> picked = new ArrayList<>();
            for (Message m; (m = sel.receive(2000)) != null; ) {
                picked.add(((TextMessage) m).getText());
            }
            check("selector", picked.equals(Arrays.asList("m6", "m8")), "selected " + picked);
            sel.close();

            // MapMessage with every value type.
            Queue mq = s.createQueue("jms.map");
            MapMessage mm = s.createMapMessage();
            mm.setBoolean("bool", true);
            mm.setByte("byte", (byte) -5);
            mm.setShort("short", (short) 300);
            mm.setChar("char", 'é');
            mm.setInt("int", 70000);
            mm.setLong("long", 1L << 40);
            mm.setFloat("float", 1.5f);
            mm.setDouble("double", -2.25);
            mm.setString("string", "ünïcode \u0000 and \uD83D\uDE00");
            mm.setBytes("bytes", new byte[] {1, 2, 3});
            mm.setStringProperty("kind", "map");
            s.createProducer(mq).send(mm);
            Message mr = s.createConsumer(mq).receive(5000);
            if (!(mr instanceof MapMessage)) {
                fail("map-message", "received " + mr);
            } else {
                MapMessage g = (MapMessage) mr;
                TreeMap<String, String> types = new TreeMap<>();
                for (Enumeration<?> e = g.getMapNames(); e.hasMoreElements(); ) {
                    String k = (String) e.nextElement();
                    Object v = g.getObject(k);
                    types.put(k, v.getClass().getSimpleName());
                }
                boolean same = g.getBoolean("bool") && g.getByte("byte") == -5 && g.getShort("short") == 300
                        && g.getChar("char") == 'é' && g.getInt("int") == 70000 && g.getLong("long") == (1L << 40)
                        && g.getFloat("float") == 1.5f && g.getDouble("double") == -2.25
                        && "ünïcode \u0000 and \uD83D\uDE00".equals(g.getString("string"))
                        && Arrays.equals(new byte[] {1, 2, 3}, g.getBytes("bytes")) && "map".equals(g.getStringProperty("kind"));
                String want = "{bool=Boolean, byte=Byte, bytes=byte[], char=Character, double=Double, float=Float, int=Integer, long=Long, short=Short, string=String}";
                check("map-message", same && want.equals(types.toString()), "types " + types + " values " + g);
            }

            // ObjectMessage: a serialized object, opaque to the broker.
            Queue oq = s.createQueue("jms.object");
            HashMap<String, Object> obj = new HashMap<>();
            obj.put("answer", 42);
            obj.put("list", new ArrayList<>(Arrays.asList("a", "b")));
            s.createProducer(oq).send(s.createObjectMessage(obj));
            Message or = s.createConsumer(oq).receive(5000);
            check("object-message", or instanceof ObjectMessage && obj.equals(((ObjectMessage) or).getObject()),
                    "received " + or);
        } finally {
            requester.close();
            replier.close();
        }
    }

    /** Sends n persistent messages "m-<i>" with property seq, through whatever URL (failover:) it is given. */
    static void produce(String url, String queue, int n) throws Exception {
        Connection c = open(url);
        try {
            Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
            Destination d = queue.startsWith("topic:") ? s.createTopic(queue.substring(6)) : s.createQueue(queue);
            MessageProducer p = s.createProducer(d);
            for (int i = 0; i < n; i++) {
                TextMessage m = s.createTextMessage("m-" + i);
                m.setIntProperty("seq", i);
                p.send(m);
                if ((i + 1) % 100 == 0) {
                    System.out.println("SENT " + (i + 1));
                    System.out.flush();
                }
            }
            System.out.println("DONE " + n);
        } finally {
            c.close();
        }
    }

    /**
     * Receives from the durable subscription "sub" of clientID on topic (or, with
     * clientID "-", from the queue named topic) until it has been quiet for
     * idleMs, printing each body, a millisecond apart; with idleMs 0 it only
     * makes sure the subscription exists, and ends.
     */
    static void durconsume(String url, String clientID, String topic, int idleMs) throws Exception {
        ActiveMQConnectionFactory cf = new ActiveMQConnectionFactory(url);
        Connection c = cf.createConnection();
        if (!clientID.equals("-")) {
            c.setClientID(clientID);
        }
        c.start();
        try {
            Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
            MessageConsumer mc = clientID.equals("-") ? s.createConsumer(s.createQueue(topic))
                    : s.createDurableSubscriber(s.createTopic(topic), "sub");
            int n = 0;
            if (idleMs > 0) {
                for (Message m; (m = mc.receive(idleMs)) != null; n++) {
                    System.out.println("GOT " + ((TextMessage) m).getText());
                    System.out.flush();
                    Thread.sleep(1);
                }
            }
            System.out.println("DONE " + n);
        } finally {
            c.close();
        }
    }

    /**
     * Request and reply across a failover: a replier connection answers requests
     * on jms.rr to their JMSReplyTo; a requester connection sends n requests in
     * turn, each with a temporary queue to reply to, and prints "REPLY id" for
     * each answer. A request whose answer does not come within 3 s (lost with the
     * live that died) is sent again, up to 10 times.
     */
    static void rrFail(String url, int n) throws Exception {
        Connection replier = open(url);
        Connection requester = open(url);
        try {
            Session rs = replier.createSession(false, Session.AUTO_ACKNOWLEDGE);
            MessageConsumer requests = rs.createConsumer(rs.createQueue("jms.rr"));
            MessageProducer replies = rs.createProducer(null);
            requests.setMessageListener(m -> {
                try {
                    TextMessage answer = rs.createTextMessage("re: " + ((TextMessage) m).getText());
                    answer.setJMSCorrelationID(m.getJMSCorrelationID());
                    replies.send(m.getJMSReplyTo(), answer);
                } catch (JMSException e) {
                    System.out.println("REPLIER " + e);
                }
            });
            Session qs = requester.createSession(false, Session.AUTO_ACKNOWLEDGE);
            TemporaryQueue tq = qs.createTemporaryQueue();
            MessageConsumer answers = qs.createConsumer(tq);
            MessageProducer asks = qs.createProducer(qs.createQueue("jms.rr"));
            int resent = 0;
            for (int i = 0; i < n; i++) {
                String id = "r-" + i;
                Message reply = null;
                for (int attempt = 0; reply == null && attempt < 10; attempt++) {
                    if (attempt > 0) {
                        resent++;
                    }
                    TextMessage req = qs.createTextMessage(id);
                    req.setJMSCorrelationID(id);
                    req.setJMSReplyTo(tq);
                    asks.send(req);
                    // An answer to an earlier attempt may come first: skip it.
                    for (Message m; (m = answers.receive(3000)) != null; ) {
                        if (id.equals(m.getJMSCorrelationID())) {
                            reply = m;
                            break;
                        }
                    }
                }
                if (reply == null) {
                    fail("rrfail", "no reply to " + id + " after 10 attempts");
                    return;
                }
                System.out.println("REPLY " + id);
                System.out.flush();
            }
            System.out.println("DONE " + n + " resent " + resent);
        } finally {
            requester.close();
            replier.close();
        }
    }

    /** Receives until the queue has been quiet for idleMs, printing each body. */
    static void consume(String url, String queue, int idleMs) throws Exception {
        Connection c = open(url);
        try {
            Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
            MessageConsumer mc = s.createConsumer(s.createQueue(queue));
            int n = 0;
            for (Message m; (m = mc.receive(idleMs)) != null; n++) {
                System.out.println("GOT " + ((TextMessage) m).getText());
            }
            System.out.println("DONE " + n);
        } finally {
            c.close();
        }
    }

    /**
     * Receives in transactions of batch messages, sleeping between receives,
     * until the queue has been quiet for idleMs. Each commit prints
     * "COMMITTED" and the batch's bodies; a commit that throws
     * TransactionRolledBackException prints "ROLLEDBACK" and the bodies.
     */
    static void txconsume(String url, String queue, int batch, int idleMs) throws Exception {
        Connection c = open(url);
        try {
            Session s = c.createSession(true, Session.SESSION_TRANSACTED);
            MessageConsumer mc = s.createConsumer(s.createQueue(queue));
            commitBatches(s, mc, new ArrayList<>(), batch, idleMs);
        } finally {
            c.close();
        }
    }

    /**
     * Receives held messages in a transaction, prints "HELD" and their bodies,
     * and waits for a line on standard input: the test kills the live meanwhile.
     * The next message it receives comes after the new live's dispatch of the
     * held ones, which the client takes as the redeliveries it expects; the
     * commit then rolls back (the transaction spanned a failover), and the
     * batches that follow are committed as txconsume does: with batch equal to
     * held, the first is exactly the held messages, which the client acks by
     * the ids the old live gave them.
     */
    static void txheld(String url, String queue, int held, int batch, int idleMs) throws Exception {
        Connection c = open(url);
        try {
            Session s = c.createSession(true, Session.SESSION_TRANSACTED);
            MessageConsumer mc = s.createConsumer(s.createQueue(queue));
            List<String> bodies = new ArrayList<>();
            while (bodies.size() < held) {
                Message m = mc.receive(idleMs);
                if (m == null) {
                    fail("txheld", "only " + bodies.size() + " messages arrived before the failover");
                    return;
                }
                bodies.add(((TextMessage) m).getText());
            }
            System.out.println("HELD " + String.join(" ", bodies));
            System.out.flush();
            new java.io.BufferedReader(new java.io.InputStreamReader(System.in)).readLine();
            Message m = mc.receive(idleMs);
            if (m == null) {
                fail("txheld", "no message arrived after the failover");
                return;
            }
            bodies.add(((TextMessage) m).getText());
            commitBatches(s, mc, bodies, batch, idleMs);
        } finally {
            c.close();
        }
    }

    /**
     * Commits batches of the messages received, starting with the bodies
     * already received in the open transaction, until the queue has been quiet
     * for idleMs; then prints "DONE".
     */
    static void commitBatches(Session s, MessageConsumer mc, List<String> bodies, int batch, int idleMs) throws Exception {
        while (true) {
            Message m = bodies.size() >= batch ? null : mc.receive(idleMs);
            if (m != null) {
                bodies.add(((TextMessage) m).getText());
                Thread.sleep(2);
            }
            boolean full = bodies.size() >= batch;
            if (full || (m == null && !bodies.isEmpty())) {
                try {
                    s.commit();
                    System.out.println("COMMITTED " + String.join(" ", bodies));
                } catch (TransactionRolledBackException e) {
                    System.out.println("ROLLEDBACK " + String.join(" ", bodies));
                }
                System.out.flush();
                bodies.clear();
                if (full) {
                    continue;
                }
            }
            if (m == null) {
                break;
            }
        }
        System.out.println("DONE");
    }

    /** Prints the messages a STOMP client sent to queue jms.fromstomp. */
    static void fromStomp(String url) throws Exception {
        Connection c = open(url);
        try {
            Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
            MessageConsumer mc = s.createConsumer(s.createQueue("jms.fromstomp"));
            for (int i = 0; i < 2; i++) {
                Message m = mc.receive(10000);
                if (m == null) {
                    fail("fromstomp", "only " + i + " messages arrived");
                    return;
                }
                String body;
                if (m instanceof TextMessage) {
                    body = "TEXT " + ((TextMessage) m).getText();
                } else if (m instanceof BytesMessage) {
                    BytesMessage b = (BytesMessage) m;
                    byte[] data = new byte[(int) b.getBodyLength()];
                    b.readBytes(data);
                    body = "BYTES " + new String(data, "UTF-8");
                } else {
                    body = "OTHER " + m.getClass().getName();
                }
                System.out.println("MSG " + body + " | color=" + m.getStringProperty("color") + " | type=" + m.getJMSType()
                        + " | corr=" + m.getJMSCorrelationID() + " | prio=" + m.getJMSPriority());
            }
        } finally {
            c.close();
        }
    }

    /** Sends a TextMessage and a BytesMessage with typed properties to queue jms.tostomp. */
    static void toStomp(String url) throws Exception {
        Connection c = open(url);
        try {
            Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
            MessageProducer p = s.createProducer(s.createQueue("jms.tostomp"));
            TextMessage t = s.createTextMessage("text from jms ü");
            t.setStringProperty("color", "green");
            t.setIntProperty("count", 7);
            t.setBooleanProperty("flag", true);
            t.setDoubleProperty("ratio", 0.5);
            t.setJMSCorrelationID("c-1");
            t.setJMSType("greeting");
            p.send(t);
            BytesMessage b = s.createBytesMessage();
            b.writeBytes(new byte[] {'r', 'a', 'w', 0, 1});
            b.setLongProperty("big", 1L << 40);
            p.send(b);
            ok("tostomp");
        } finally {
            c.close();
        }
    }

    /** Connects with credentials (and a client ID) and reports what happened. */
    static void connect(String url, String user, String pass, String clientID) throws Exception {
        ActiveMQConnectionFactory cf = new ActiveMQConnectionFactory(url);
        try {
            Connection c = cf.createConnection(user, pass);
            if (clientID != null) {
                c.setClientID(clientID);
            }
            c.start();
            c.createSession(false, Session.AUTO_ACKNOWLEDGE).close();
            System.out.println("CONNECTED");
            c.close();
        } catch (JMSException e) {
            System.out.println("REFUSED " + e.getClass().getName() + ": " + e.getMessage());
        }
    }

    /** Opens two connections with one client ID; the second must be refused and the first keep working. */
    static void dupClient(String url, String clientID) throws Exception {
        Connection first = new ActiveMQConnectionFactory(url).createConnection();
        first.setClientID(clientID);
        first.start();
        try {
            try {
                Connection second = new ActiveMQConnectionFactory(url).createConnection();
                second.setClientID(clientID);
                second.start();
                fail("dupclient", "the second connection with client ID " + clientID + " was accepted");
                second.close();
            } catch (JMSException e) {
                System.out.println("REFUSED " + e.getClass().getName() + ": " + e.getMessage());
            }
            Session s = first.createSession(false, Session.AUTO_ACKNOWLEDGE);
            Queue q = s.createQueue("jms.dupclient");
            s.createProducer(q).send(s.createTextMessage("still here"));
            Message m = s.createConsumer(q).receive(5000);
            check("first-still-works", m instanceof TextMessage && "still here".equals(((TextMessage) m).getText()), "got " + m);
        } finally {
            first.close();
        }
    }
}
