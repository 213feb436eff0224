// Capture drives ActiveMQ's own JMS client (activemq-client 5.17) through
// every command the codec must understand, one scenario per run, so that
// capture.sh can record the frames. Messages meant to become golden files
// carry a "golden" property naming them.
//
//   java -cp <activemq-client and deps>:. Capture <brokerURL> <scenario>

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import javax.jms.*;
import javax.transaction.xa.XAResource;
import javax.transaction.xa.Xid;

import org.apache.activemq.ActiveMQConnection;
import org.apache.activemq.ActiveMQConnectionFactory;
import org.apache.activemq.ActiveMQSession;
import org.apache.activemq.ActiveMQXAConnectionFactory;
import org.apache.activemq.RedeliveryPolicy;
import org.apache.activemq.command.ConsumerId;
import org.apache.activemq.command.RemoveInfo;
import org.apache.activemq.command.SessionId;

public class Capture {
    static final String UNICODE = "nul\u0000 e\u0301 \u00e9 \u20ac \ud83d\ude00 end";

    public static void main(String[] args) throws Exception {
        String url = args[0];
        String scenario = args[1];
        switch (scenario) {
            case "types": types(url); break;
            case "tx": tx(url); break;
            case "acks": acks(url); break;
            case "durable": durable(url); break;
            case "browse": browse(url); break;
            case "temp": temp(url); break;
            case "pull": pull(url); break;
            case "compress": compress(url); break;
            case "xa": xa(url); break;
            case "window": window(url); break;
            case "keepalive": keepalive(url); break;
            case "clientid": clientid(url); break;
            case "error": error(url); break;
            default: throw new IllegalArgumentException("unknown scenario " + scenario);
        }
        System.out.println("OK " + scenario);
    }

    static Connection connect(String url) throws JMSException {
        Connection c = new ActiveMQConnectionFactory(url).createConnection();
        c.start();
        return c;
    }

    static String big(int n) {
        StringBuilder b = new StringBuilder(n);
        for (int i = 0; i < n; i++) b.append((char) ('a' + i % 26));
        return b.toString();
    }

    // types sends one message of each kind, with every header and property
    // type, then consumes them all.
    static void types(String url) throws Exception {
        Connection c = connect(url);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Queue q = s.createQueue("golden.types");
        MessageProducer p = s.createProducer(q);

        Message m = s.createMessage();
        m.setStringProperty("golden", "message-headers");
        m.setBooleanProperty("pBool", true);
        m.setByteProperty("pByte", (byte) -7);
        m.setShortProperty("pShort", (short) -300);
        m.setIntProperty("pInt", 123456789);
        m.setLongProperty("pLong", 1234567890123L);
        m.setFloatProperty("pFloat", 1.5f);
        m.setDoubleProperty("pDouble", -2.25);
        m.setStringProperty("pString", "value");
        m.setStringProperty("pUnicode", UNICODE);
        m.setStringProperty("pEmpty", "");
        m.setJMSCorrelationID("corr-1");
        m.setJMSType("golden-type");
        m.setJMSReplyTo(s.createQueue("golden.reply"));
        m.setStringProperty("JMSXGroupID", "group-a");
        m.setIntProperty("JMSXGroupSeq", 3);
        p.send(m, DeliveryMode.PERSISTENT, 7, 60000);

        TextMessage t = s.createTextMessage("hello");
        t.setStringProperty("golden", "text-plain");
        p.send(t);

        t = s.createTextMessage(UNICODE);
        t.setStringProperty("golden", "text-unicode");
        p.send(t);

        t = s.createTextMessage("");
        t.setStringProperty("golden", "text-empty");
        p.send(t);

        t = s.createTextMessage();
        t.setStringProperty("golden", "text-null");
        p.send(t);

        t = s.createTextMessage("not persistent");
        t.setStringProperty("golden", "text-nonpersistent");
        p.send(t, DeliveryMode.NON_PERSISTENT, 4, 0);

        BytesMessage b = s.createBytesMessage();
        byte[] all = new byte[256];
        for (int i = 0; i < all.length; i++) all[i] = (byte) i;
        b.writeBytes(all);
        b.setStringProperty("golden", "bytes");
        p.send(b);

        MapMessage mm = s.createMapMessage();
        mm.setBoolean("boolean", true);
        mm.setByte("byte", (byte) 0x7f);
        mm.setShort("short", (short) -2);
        mm.setChar("char", '\u20ac');
        mm.setInt("int", Integer.MIN_VALUE);
        mm.setLong("long", Long.MAX_VALUE);
        mm.setFloat("float", 3.25f);
        mm.setDouble("double", Math.PI);
        mm.setString("string", "text");
        mm.setString("unicode", UNICODE);
        mm.setString("bigString", big(9000));
        mm.setBytes("bytes", new byte[] {0, 1, 2, (byte) 0xff});
        mm.setObject("null", null);
        List<Object> list = new ArrayList<Object>(Arrays.asList(1, "two", 3L));
        mm.setObject("list", list);
        Map<String, Object> nested = new HashMap<String, Object>();
        nested.put("inner", 42);
        mm.setObject("map", nested);
        mm.setStringProperty("golden", "map-all-types");
        p.send(mm);

        ObjectMessage o = s.createObjectMessage(new ArrayList<String>(Arrays.asList("serialised", "list")));
        o.setStringProperty("golden", "object");
        p.send(o);

        StreamMessage sm = s.createStreamMessage();
        sm.writeBoolean(false);
        sm.writeByte((byte) 1);
        sm.writeShort((short) 2);
        sm.writeChar('c');
        sm.writeInt(4);
        sm.writeLong(5);
        sm.writeFloat(6.5f);
        sm.writeDouble(7.5);
        sm.writeString("eight");
        sm.writeString(big(9000));
        sm.writeBytes(new byte[] {9, 9});
        sm.writeObject(null);
        sm.setStringProperty("golden", "stream");
        p.send(sm);

        // A composite destination and an anonymous producer.
        MessageProducer comp = s.createProducer(s.createQueue("golden.c1,golden.c2"));
        t = s.createTextMessage("composite");
        t.setStringProperty("golden", "composite");
        comp.send(t);
        MessageProducer anon = s.createProducer(null);
        t = s.createTextMessage("anonymous");
        t.setStringProperty("golden", "anonymous");
        anon.send(s.createQueue("golden.anon"), t);

        MessageConsumer cons = s.createConsumer(q);
        for (int i = 0; i < 10; i++) {
            if (cons.receive(5000) == null) throw new RuntimeException("message " + i + " missing");
        }
        cons.close();
        p.close();
        s.close();
        c.close();
    }

    // tx commits and rolls back sends and receives. A prefetch of 2 makes
    // the transacted consumer send DELIVERED acks at once, and rolling the
    // same message back twice makes it send a REDELIVERED ack.
    static void tx(String url) throws Exception {
        String sep = url.contains("?") ? "&" : "?";
        Connection c = connect(url + sep + "jms.prefetchPolicy.queuePrefetch=2");
        Session s = c.createSession(true, Session.SESSION_TRANSACTED);
        Queue q = s.createQueue("golden.tx");
        MessageProducer p = s.createProducer(q);
        TextMessage t = s.createTextMessage("committed");
        t.setStringProperty("golden", "text-tx");
        p.send(t);
        p.send(s.createTextMessage("committed too"));
        s.commit();
        p.send(s.createTextMessage("rolled back"));
        s.rollback();
        MessageConsumer cons = s.createConsumer(q);
        if (cons.receive(5000) == null) throw new RuntimeException("nothing to receive");
        s.rollback();
        if (cons.receive(5000) == null) throw new RuntimeException("no redelivery");
        s.rollback();
        if (cons.receive(5000) == null) throw new RuntimeException("no second redelivery");
        s.commit();
        if (cons.receive(5000) == null) throw new RuntimeException("second message missing");
        s.commit();
        c.close();
    }

    // acks exercises client, individual and poison acknowledgements and
    // recover.
    static void acks(String url) throws Exception {
        Connection c = connect(url);
        Session ps = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Queue q = ps.createQueue("golden.acks");
        MessageProducer p = ps.createProducer(q);
        for (int i = 0; i < 6; i++) p.send(ps.createTextMessage("ack " + i));

        Session cs = c.createSession(false, Session.CLIENT_ACKNOWLEDGE);
        MessageConsumer cons = cs.createConsumer(q);
        Message m = cons.receive(5000);
        cs.recover();
        m = cons.receive(5000);
        m.acknowledge();
        cons.close();
        cs.close();

        Session is = c.createSession(false, ActiveMQSession.INDIVIDUAL_ACKNOWLEDGE);
        cons = is.createConsumer(q);
        cons.receive(5000);
        m = cons.receive(5000);
        m.acknowledge();
        cons.close();
        is.close();
        c.close();

        ActiveMQConnectionFactory f = new ActiveMQConnectionFactory(url);
        RedeliveryPolicy rp = new RedeliveryPolicy();
        rp.setMaximumRedeliveries(0);
        f.setRedeliveryPolicy(rp);
        Connection pc = f.createConnection();
        pc.start();
        Session ts = pc.createSession(true, Session.SESSION_TRANSACTED);
        cons = ts.createConsumer(ts.createQueue("golden.acks"));
        if (cons.receive(5000) == null) throw new RuntimeException("nothing to poison");
        ts.rollback();
        cons.receive(1000);
        ts.commit();
        pc.close();
    }

    // durable subscribes durably, receives, and unsubscribes; it also
    // makes a no-local subscriber and a selector consumer.
    static void durable(String url) throws Exception {
        Connection c = new ActiveMQConnectionFactory(url).createConnection();
        c.setClientID("golden-client");
        c.start();
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Topic topic = s.createTopic("golden.topic");
        TopicSubscriber sub = s.createDurableSubscriber(topic, "golden-sub");
        MessageConsumer local = s.createConsumer(topic, null, true);
        MessageProducer p = s.createProducer(topic);
        TextMessage t = s.createTextMessage("to the subscriber");
        t.setStringProperty("golden", "text-topic");
        p.send(t);
        if (sub.receive(5000) == null) throw new RuntimeException("durable subscriber got nothing");
        sub.close();
        local.close();
        s.unsubscribe("golden-sub");

        Queue q = s.createQueue("golden.selector");
        MessageConsumer sel = s.createConsumer(q, "color = 'red' AND weight > 2");
        MessageProducer qp = s.createProducer(q);
        t = s.createTextMessage("red");
        t.setStringProperty("color", "red");
        t.setIntProperty("weight", 3);
        qp.send(t);
        if (sel.receive(5000) == null) throw new RuntimeException("selector consumer got nothing");
        c.close();
    }

    // browse lists a queue without consuming it.
    static void browse(String url) throws Exception {
        Connection c = connect(url);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Queue q = s.createQueue("golden.browse");
        MessageProducer p = s.createProducer(q);
        for (int i = 0; i < 2; i++) p.send(s.createTextMessage("browse " + i));
        QueueBrowser br = s.createBrowser(q);
        int n = 0;
        for (Enumeration<?> e = br.getEnumeration(); e.hasMoreElements(); e.nextElement()) n++;
        if (n != 2) throw new RuntimeException("browsed " + n);
        br.close();
        c.close();
    }

    // temp makes temporary destinations and does a request/reply over one.
    static void temp(String url) throws Exception {
        Connection c = connect(url);
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        TemporaryQueue tq = s.createTemporaryQueue();
        TemporaryTopic tt = s.createTemporaryTopic();
        MessageConsumer replies = s.createConsumer(tq);
        Queue service = s.createQueue("golden.service");
        MessageConsumer server = s.createConsumer(service);
        TextMessage req = s.createTextMessage("request");
        req.setJMSReplyTo(tq);
        req.setStringProperty("golden", "text-replyto-temp");
        s.createProducer(service).send(req);
        Message got = server.receive(5000);
        s.createProducer(got.getJMSReplyTo()).send(s.createTextMessage("reply"));
        if (replies.receive(5000) == null) throw new RuntimeException("no reply");
        replies.close();
        tq.delete();
        tt.delete();
        c.close();
    }

    // pull consumes with prefetch 0, so the client asks with MessagePull.
    static void pull(String url) throws Exception {
        String sep = url.contains("?") ? "&" : "?";
        Connection c = connect(url + sep + "jms.prefetchPolicy.all=0");
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Queue q = s.createQueue("golden.pull");
        MessageConsumer cons = s.createConsumer(q);
        cons.receiveNoWait();
        cons.receive(300);
        s.createProducer(q).send(s.createTextMessage("pulled"));
        if (cons.receive(5000) == null) throw new RuntimeException("nothing pulled");
        c.close();
    }

    // compress sends compressed bodies of each kind.
    static void compress(String url) throws Exception {
        String sep = url.contains("?") ? "&" : "?";
        Connection c = connect(url + sep + "jms.useCompression=true");
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Queue q = s.createQueue("golden.compress");
        MessageProducer p = s.createProducer(q);
        TextMessage t = s.createTextMessage(big(3000) + UNICODE);
        t.setStringProperty("golden", "text-compressed");
        p.send(t);
        BytesMessage b = s.createBytesMessage();
        b.writeBytes(big(3000).getBytes("US-ASCII"));
        b.setStringProperty("golden", "bytes-compressed");
        p.send(b);
        MapMessage m = s.createMapMessage();
        m.setString("k", big(2000));
        m.setInt("n", 7);
        m.setStringProperty("golden", "map-compressed");
        p.send(m);
        StreamMessage sm = s.createStreamMessage();
        sm.writeString(big(2000));
        sm.writeLong(8);
        sm.setStringProperty("golden", "stream-compressed");
        p.send(sm);
        ObjectMessage o = s.createObjectMessage(big(2000));
        o.setStringProperty("golden", "object-compressed");
        p.send(o);
        MessageConsumer cons = s.createConsumer(q);
        for (int i = 0; i < 5; i++) {
            if (cons.receive(5000) == null) throw new RuntimeException("compressed message " + i + " missing");
        }
        c.close();
    }

    static class GoldenXid implements Xid, Serializable {
        public int getFormatId() { return 0x1234; }
        public byte[] getGlobalTransactionId() { return new byte[] {1, 2, 3, 4}; }
        public byte[] getBranchQualifier() { return new byte[] {5, 6}; }
    }

    // xa sends inside an XA transaction branch.
    static void xa(String url) throws Exception {
        XAConnection c = new ActiveMQXAConnectionFactory(url).createXAConnection();
        c.start();
        XASession s = c.createXASession();
        XAResource res = s.getXAResource();
        Xid xid = new GoldenXid();
        res.start(xid, XAResource.TMNOFLAGS);
        TextMessage t = s.createTextMessage("xa");
        t.setStringProperty("golden", "text-xa");
        s.getSession().createProducer(s.createQueue("golden.xa")).send(t);
        res.end(xid, XAResource.TMSUCCESS);
        res.prepare(xid);
        res.commit(xid, false);
        c.close();
    }

    // window sends with a producer window, so the broker answers with
    // ProducerAck.
    static void window(String url) throws Exception {
        String sep = url.contains("?") ? "&" : "?";
        Connection c = connect(url + sep + "jms.producerWindowSize=1024");
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        MessageProducer p = s.createProducer(s.createQueue("golden.window"));
        p.setDeliveryMode(DeliveryMode.NON_PERSISTENT);
        for (int i = 0; i < 3; i++) p.send(s.createTextMessage("window " + i));
        Thread.sleep(500);
        c.close();
    }

    // keepalive idles with a short inactivity timeout, so both sides send
    // KeepAliveInfo.
    static void keepalive(String url) throws Exception {
        String sep = url.contains("?") ? "&" : "?";
        Connection c = connect(url + sep + "wireFormat.maxInactivityDuration=1000&wireFormat.maxInactivityDurationInitalDelay=200");
        Thread.sleep(2500);
        c.close();
    }

    // clientid opens two connections with one client ID; the broker
    // refuses the second with an InvalidClientIDException.
    static void clientid(String url) throws Exception {
        Connection a = new ActiveMQConnectionFactory(url).createConnection();
        a.setClientID("golden-dup");
        a.start();
        Connection b = new ActiveMQConnectionFactory(url).createConnection();
        try {
            // The client sends its ConnectionInfo as soon as the ID is set.
            b.setClientID("golden-dup");
            b.start();
            throw new RuntimeException("the duplicate client ID was accepted");
        } catch (InvalidClientIDException expected) {
            // what the broker must answer
        }
        try { b.close(); } catch (JMSException ignored) { }
        a.close();
    }

    // error sends, without asking for a response, a command the broker
    // cannot carry out (closing a consumer of a session never opened), so
    // the broker reports it with a ConnectionError.
    static void error(String url) throws Exception {
        ActiveMQConnection c = (ActiveMQConnection) connect(url);
        SessionId nowhere = new SessionId(c.getConnectionInfo().getConnectionId(), 99);
        c.asyncSendPacket(new RemoveInfo(new ConsumerId(nowhere, 1)));
        Thread.sleep(500);
        c.close();
    }
}
