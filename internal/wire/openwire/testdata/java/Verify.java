// Verify reads frames written by tandem's Go codec with ActiveMQ's own
// OpenWire marshaller (activemq-client 5.17, v12, loose, uncached, no stack
// traces), encodes each back with the same marshaller and reports whether
// the bytes agree, then prints what a Java application would see: the
// wire format options through their typed getters, message properties and
// bodies with their Java classes. java_test.go compares the output with
// what the Go values say.
//
//   java -cp <activemq-client and deps>:. Verify <frame files>...

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import java.util.Map;

import javax.jms.MessageEOFException;

import org.apache.activemq.command.*;
import org.apache.activemq.openwire.OpenWireFormat;
import org.apache.activemq.util.ByteSequence;

public class Verify {
    public static void main(String[] args) throws Exception {
        for (String path : args) {
            byte[] in = Files.readAllBytes(Paths.get(path));
            String name = Paths.get(path).getFileName().toString();
            try {
                verify(name, in);
            } catch (Throwable e) {
                System.out.println("FRAME " + name + " ERROR " + e);
            }
        }
    }

    static void verify(String name, byte[] in) throws Exception {
        OpenWireFormat wf = new OpenWireFormat(12);
        Object o = wf.unmarshal(new DataInputStream(new ByteArrayInputStream(in)));
        ByteSequence out = wf.marshal(o);
        byte[] again = Arrays.copyOfRange(out.getData(), out.getOffset(), out.getOffset() + out.getLength());
        String same = Arrays.equals(in, again) ? "same" : "DIFFERENT";
        System.out.println("FRAME " + name + " " + o.getClass().getSimpleName() + " " + same);
        if (o instanceof WireFormatInfo) {
            WireFormatInfo w = (WireFormatInfo) o;
            line("WF valid=" + w.isValid() + " version=" + w.getVersion() + " tight=" + w.isTightEncodingEnabled()
                + " cache=" + w.isCacheEnabled() + " cacheSize=" + w.getCacheSize() + " stackTrace=" + w.isStackTraceEnabled()
                + " sizePrefixDisabled=" + w.isSizePrefixDisabled() + " tcpNoDelay=" + w.isTcpNoDelayEnabled()
                + " maxFrameSize=" + w.getMaxFrameSize() + " maxFrameSizeEnabled=" + w.isMaxFrameSizeEnabled()
                + " maxInactivity=" + w.getMaxInactivityDuration() + " initialDelay=" + w.getMaxInactivityDurationInitalDelay());
        }
        if (o instanceof MessageDispatch) {
            MessageDispatch md = (MessageDispatch) o;
            line("DISPATCH consumer=" + md.getConsumerId() + " destination=" + md.getDestination() + " message=" + (md.getMessage() != null));
            if (md.getMessage() != null) message(md.getMessage());
        }
        if (o instanceof Message) message((Message) o);
        if (o instanceof ExceptionResponse) {
            Throwable t = ((ExceptionResponse) o).getException();
            line("EXCEPTION " + t.getClass().getName() + " " + esc(t.getMessage()) + " correlation=" + ((Response) o).getCorrelationId());
        }
        if (o instanceof ConnectionError) {
            Throwable t = ((ConnectionError) o).getException();
            line("EXCEPTION " + t.getClass().getName() + " " + esc(t.getMessage()));
        }
        if (o instanceof BrokerInfo) {
            BrokerInfo b = (BrokerInfo) o;
            line("BROKER id=" + b.getBrokerId() + " url=" + b.getBrokerURL() + " name=" + b.getBrokerName() + " peers=" + b.getPeerBrokerInfos().length);
        }
        if (o instanceof ConnectionControl) {
            line("CONTROL connectedBrokers=" + ((ConnectionControl) o).getConnectedBrokers());
        }
        if (o instanceof Command) {
            Command c = (Command) o;
            line("COMMAND id=" + c.getCommandId() + " responseRequired=" + c.isResponseRequired());
        }
    }

    static void message(Message m) throws Exception {
        ActiveMQMessage am = (ActiveMQMessage) m;
        line("MESSAGE class=" + m.getClass().getSimpleName() + " id=" + am.getJMSMessageID() + " destination=" + m.getDestination()
            + " persistent=" + m.isPersistent() + " priority=" + m.getPriority() + " correlation=" + m.getCorrelationId()
            + " type=" + m.getType() + " replyTo=" + m.getReplyTo() + " compressed=" + m.isCompressed());
        if (m.getDataStructure() != null) line("CARRIES " + m.getDataStructure().getClass().getSimpleName());
        Map<String, Object> props = m.getProperties();
        List<String> keys = new ArrayList<String>(props.keySet());
        Collections.sort(keys);
        for (String k : keys) line("PROP " + esc(k) + " " + value(props.get(k)));
        am.setReadOnlyBody(true);
        if (m instanceof ActiveMQTextMessage) {
            line("TEXT " + esc(((ActiveMQTextMessage) m).getText()));
        } else if (m instanceof ActiveMQMapMessage) {
            ActiveMQMapMessage mm = (ActiveMQMapMessage) m;
            List<String> names = new ArrayList<String>();
            for (Enumeration<?> e = mm.getMapNames(); e.hasMoreElements();) names.add((String) e.nextElement());
            Collections.sort(names);
            for (String k : names) line("MAP " + esc(k) + " " + value(mm.getObject(k)));
        } else if (m instanceof ActiveMQStreamMessage) {
            ActiveMQStreamMessage sm = (ActiveMQStreamMessage) m;
            try {
                while (true) line("STREAM " + value(sm.readObject()));
            } catch (MessageEOFException end) {
                // the end of the body
            }
        } else if (m instanceof ActiveMQBytesMessage) {
            ActiveMQBytesMessage bm = (ActiveMQBytesMessage) m;
            byte[] b = new byte[(int) bm.getBodyLength()];
            bm.readBytes(b);
            line("BYTES " + hex(b));
        } else if (m instanceof ActiveMQObjectMessage) {
            ByteSequence c = m.getContent();
            line("OBJECT " + (c == null ? 0 : c.getLength()) + " bytes");
        }
    }

    static String value(Object v) {
        if (v == null) return "null";
        String cls = v.getClass().getSimpleName();
        if (v instanceof byte[]) return cls + " " + hex((byte[]) v);
        if (v instanceof Character) return cls + " " + (int) ((Character) v).charValue();
        if (v instanceof List) {
            StringBuilder b = new StringBuilder("List [");
            String sep = "";
            for (Object x : (List<?>) v) {
                b.append(sep).append(value(x));
                sep = ", ";
            }
            return b.append("]").toString();
        }
        if (v instanceof Map) {
            Map<?, ?> m = (Map<?, ?>) v;
            List<String> keys = new ArrayList<String>();
            for (Object k : m.keySet()) keys.add((String) k);
            Collections.sort(keys);
            StringBuilder b = new StringBuilder("Map {");
            String sep = "";
            for (String k : keys) {
                b.append(sep).append(esc(k)).append("=").append(value(m.get(k)));
                sep = ", ";
            }
            return b.append("}").toString();
        }
        return cls + " " + esc(v.toString());
    }

    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) s.append(String.format("%02x", x));
        return s.toString();
    }

    // esc writes every code unit outside printable ASCII as \\uXXXX, so the
    // output is the same whatever the platform encoding.
    static String esc(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (c >= 0x20 && c < 0x7f && c != '\\') b.append(c);
            else b.append(String.format("\\u%04x", (int) c));
        }
        return b.toString();
    }

    static void line(String s) {
        System.out.println("  " + s);
    }
}
