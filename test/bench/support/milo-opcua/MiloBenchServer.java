/*
 * The benchmarks' second OPC-UA load server: Eclipse Milo 0.6.16 (Java), the same address space as
 * startBenchOpcuaServer in ../opcua-server.ts, at a fraction of node-opcua's CPU. Built and started by
 * milo-opcua.ts beside this file, which explains the design; the short version:
 *
 *   java MiloBenchServer <n> <port> <nsUri>
 *
 * - opc.tcp://127.0.0.1:<port>, SecurityPolicy None / MessageSecurityMode None, anonymous only, loopback only.
 *   Milo needs a server certificate even for None endpoints: a self-signed one is made in memory at
 *   start; nothing is written to disk, no client certificate is ever trusted.
 * - Namespace <nsUri>: a folder "Bench" under Objects (Organizes) with n Double variables
 *   ns=<index>;s=v<i>, browse name v<i> (HasComponent), read-only, initial value 0.
 * - Report by exception, not sampling: the namespace keeps its monitored items itself (node -> data
 *   items, from onDataItemsCreated/Deleted) and every tick hands each item of each node the new value
 *   (DataItem.setValue), so every change is queued exactly once, with Milo's own queue-size, discard
 *   and overflow handling (MonitoredDataItem). A new item gets the node's current value first.
 * - Tick k (k = 0, 1, 2, ... over the whole life of the process) sets variable i to k + 1 + i/n, all
 *   with one source and server timestamp; every 100 ms on an absolute schedule (a late tick is
 *   followed by the next one sooner) between `start` and `stop`.
 * - A folder "Types" under Objects with one variable per OPC-UA built-in type the gateway maps to its
 *   value model, scalar and one-dimensional array: ns=<index>;s=t.<Type> and s=t.<Type>Array
 *   (Boolean, SByte, Byte, Int16, UInt16, Int32, UInt32, Int64, UInt64, Float, Double, String,
 *   DateTime, ByteString, Guid), initially without a value; the tests write them with `set` to prove
 *   the gateway's value conversion against an independent implementation. Never ticked.
 * - Control: lines on stdin (`start`, `stop`, `counts`, `set`; end of input: exit); answers on stdout, one
 *   JSON line each: {"type":"ready"} once listening, {"type":"counts","units":..,"bytes":..,"cpuUs":..}
 *   after `stop` and `counts` (units: value changes made; cpuUs: the JVM's process CPU time).
 *   `set <Type> <element>` and `set <Type>Array <count> <element>,<element>,...` give a Types variable
 *   a new value (one source timestamp, now) and hand it to its monitored items as a tick does; answer
 *   {"type":"set"}, or {"type":"error","message":..} for a line it cannot read. Elements are written so
 *   that every value survives the text exactly (parseElement): integers in decimal, Float and Double
 *   as the hex of their IEEE bits, String as base64 of its UTF-8, DateTime as its 100 ns ticks since
 *   1601, ByteString as hex, Guid as text.
 *   Milo logs through slf4j-simple to stderr (warnings and errors only), never to stdout.
 */

import java.io.BufferedReader;
import java.math.BigInteger;
import java.util.Base64;
import java.util.UUID;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.google.common.collect.ImmutableList;
import org.eclipse.milo.opcua.sdk.core.AccessLevel;
import org.eclipse.milo.opcua.sdk.core.Reference;
import org.eclipse.milo.opcua.sdk.server.OpcUaServer;
import org.eclipse.milo.opcua.sdk.server.api.DataItem;
import org.eclipse.milo.opcua.sdk.server.api.ManagedNamespaceWithLifecycle;
import org.eclipse.milo.opcua.sdk.server.api.MonitoredItem;
import org.eclipse.milo.opcua.sdk.server.api.config.OpcUaServerConfig;
import org.eclipse.milo.opcua.sdk.server.nodes.AttributeContext;
import org.eclipse.milo.opcua.sdk.server.nodes.UaFolderNode;
import org.eclipse.milo.opcua.sdk.server.nodes.UaNode;
import org.eclipse.milo.opcua.sdk.server.nodes.UaVariableNode;
import org.eclipse.milo.opcua.sdk.server.nodes.filters.AttributeFilters;
import org.eclipse.milo.opcua.stack.core.AttributeId;
import org.eclipse.milo.opcua.stack.core.Identifiers;
import org.eclipse.milo.opcua.stack.core.StatusCodes;
import org.eclipse.milo.opcua.stack.core.UaException;
import org.eclipse.milo.opcua.stack.core.channel.EncodingLimits;
import org.eclipse.milo.opcua.stack.core.security.DefaultCertificateManager;
import org.eclipse.milo.opcua.stack.core.security.SecurityPolicy;
import org.eclipse.milo.opcua.stack.core.security.TrustListManager;
import org.eclipse.milo.opcua.stack.core.transport.TransportProfile;
import org.eclipse.milo.opcua.stack.core.types.builtin.ByteString;
import org.eclipse.milo.opcua.stack.core.types.builtin.DataValue;
import org.eclipse.milo.opcua.stack.core.types.builtin.DateTime;
import org.eclipse.milo.opcua.stack.core.types.builtin.LocalizedText;
import org.eclipse.milo.opcua.stack.core.types.builtin.NodeId;
import org.eclipse.milo.opcua.stack.core.types.builtin.StatusCode;
import org.eclipse.milo.opcua.stack.core.types.builtin.Variant;
import org.eclipse.milo.opcua.stack.core.types.builtin.unsigned.UByte;
import org.eclipse.milo.opcua.stack.core.types.builtin.unsigned.UInteger;
import org.eclipse.milo.opcua.stack.core.types.builtin.unsigned.ULong;
import org.eclipse.milo.opcua.stack.core.types.builtin.unsigned.UShort;
import org.eclipse.milo.opcua.sdk.core.ValueRanks;
import org.eclipse.milo.opcua.stack.core.types.enumerated.MessageSecurityMode;
import org.eclipse.milo.opcua.stack.core.types.structured.BuildInfo;
import org.eclipse.milo.opcua.stack.core.util.SelfSignedCertificateBuilder;
import org.eclipse.milo.opcua.stack.core.util.SelfSignedCertificateGenerator;
import org.eclipse.milo.opcua.stack.server.EndpointConfiguration;
import org.eclipse.milo.opcua.stack.server.security.ServerCertificateValidator;

import static org.eclipse.milo.opcua.stack.core.types.builtin.unsigned.Unsigned.uint;

public final class MiloBenchServer {

    private static final long PERIOD_NS = 100_000_000L;
    private static final String APPLICATION_URI = "urn:layergate:bench:milo-opcua-server";

    /** stdout carries the control protocol only; one JSON line per event */
    private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    private static synchronized void answer(String json) {
        OUT.println(json);
        OUT.flush();
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: MiloBenchServer <n> <port> <nsUri>");
            System.exit(2);
        }
        int n = Integer.parseInt(args[0]);
        int port = Integer.parseInt(args[1]);
        String nsUri = args[2];

        OpcUaServer server = new OpcUaServer(config(port));
        BenchNamespace namespace = new BenchNamespace(server, nsUri, n);
        namespace.startup();
        server.startup().get();
        Ticker ticker = new Ticker(namespace, n);
        Thread tickThread = new Thread(ticker, "bench-ticker");
        tickThread.setDaemon(true);
        tickThread.start();
        answer("{\"type\":\"ready\"}");

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            switch (line.trim()) {
                case "start":
                    ticker.start();
                    break;
                case "stop":
                    ticker.stop();
                    answer(ticker.countsJson());
                    break;
                case "counts":
                    answer(ticker.countsJson());
                    break;
                case "":
                    break;
                default:
                    if (line.startsWith("set ")) {
                        try {
                            namespace.set(line.substring(4));
                            answer("{\"type\":\"set\"}");
                        } catch (RuntimeException e) {
                            answer("{\"type\":\"error\",\"message\":\"" + String.valueOf(e).replace("\\", "\\\\").replace("\"", "\\\"") + "\"}");
                        }
                        break;
                    }
                    System.err.println("MiloBenchServer: unknown command " + line);
            }
        }
        // end of input: the parent is gone or done with us
        ticker.stop();
        try {
            namespace.shutdown();
            server.shutdown().get();
        } finally {
            System.exit(0);
        }
    }

    private static OpcUaServerConfig config(int port) throws Exception {
        // Milo refuses endpoints without a certificate, even for SecurityPolicy None: a throwaway one, in memory
        KeyPair keyPair = SelfSignedCertificateGenerator.generateRsaKeyPair(2048);
        X509Certificate certificate = new SelfSignedCertificateBuilder(keyPair)
            .setCommonName("LayerGate bench (Eclipse Milo)")
            .setApplicationUri(APPLICATION_URI)
            .addIpAddress("127.0.0.1")
            .build();

        EndpointConfiguration endpoint = EndpointConfiguration.newBuilder()
            .setTransportProfile(TransportProfile.TCP_UASC_UABINARY)
            .setBindAddress("127.0.0.1")
            .setHostname("127.0.0.1")
            .setBindPort(port)
            .setPath("")
            .setCertificate(certificate)
            .setSecurityPolicy(SecurityPolicy.None)
            .setSecurityMode(MessageSecurityMode.None)
            .addTokenPolicies(OpcUaServerConfig.USER_TOKEN_POLICY_ANONYMOUS)
            .build();

        return OpcUaServerConfig.builder()
            .setApplicationUri(APPLICATION_URI)
            .setApplicationName(LocalizedText.english("LayerGate bench OPC-UA server (Eclipse Milo)"))
            .setProductUri(APPLICATION_URI)
            .setBuildInfo(new BuildInfo(APPLICATION_URI, "LayerGate", "bench OPC-UA server (Eclipse Milo)",
                OpcUaServer.SDK_VERSION, "", DateTime.now()))
            .setEndpoints(Set.of(endpoint))
            .setCertificateManager(new DefaultCertificateManager(keyPair, certificate))
            .setTrustListManager(new EmptyTrustList())
            .setCertificateValidator(new TrustNoClient())
            // Milo's own operation limits per request (250 browse paths): the gateway reads and keeps them
            // a full queue of every item in one publish response (65,535 notifications, Milo's per-publish
            // maximum) must fit in one message: at about 30 bytes each that is close to Milo's 2 MiB default
            .setEncodingLimits(new EncodingLimits(
                EncodingLimits.DEFAULT_MAX_CHUNK_SIZE,
                (16 * 1024 * 1024 / EncodingLimits.DEFAULT_MAX_CHUNK_SIZE) * 2,
                16 * 1024 * 1024,
                EncodingLimits.DEFAULT_MAX_RECURSION_DEPTH))
            .build();
    }

    /** No certificates at all: only SecurityPolicy None is served. */
    private static final class EmptyTrustList implements TrustListManager {
        @Override public ImmutableList<java.security.cert.X509CRL> getIssuerCrls() { return ImmutableList.of(); }
        @Override public ImmutableList<java.security.cert.X509CRL> getTrustedCrls() { return ImmutableList.of(); }
        @Override public ImmutableList<X509Certificate> getIssuerCertificates() { return ImmutableList.of(); }
        @Override public ImmutableList<X509Certificate> getTrustedCertificates() { return ImmutableList.of(); }
        @Override public ImmutableList<X509Certificate> getRejectedCertificates() { return ImmutableList.of(); }
        @Override public void setIssuerCrls(List<java.security.cert.X509CRL> crls) { }
        @Override public void setTrustedCrls(List<java.security.cert.X509CRL> crls) { }
        @Override public void setIssuerCertificates(List<X509Certificate> certificates) { }
        @Override public void setTrustedCertificates(List<X509Certificate> certificates) { }
        @Override public void addIssuerCertificate(X509Certificate certificate) { }
        @Override public void addTrustedCertificate(X509Certificate certificate) { }
        @Override public void addRejectedCertificate(X509Certificate certificate) { }
        @Override public boolean removeIssuerCertificate(ByteString thumbprint) { return false; }
        @Override public boolean removeTrustedCertificate(ByteString thumbprint) { return false; }
        @Override public boolean removeRejectedCertificate(ByteString thumbprint) { return false; }
    }

    /** Never asked with SecurityPolicy None; refuses everything if it ever is. */
    private static final class TrustNoClient implements ServerCertificateValidator {
        @Override
        public void validateCertificateChain(List<X509Certificate> chain) throws UaException {
            throw new UaException(StatusCodes.Bad_SecurityChecksFailed, "the bench server trusts no client certificate");
        }

        @Override
        public void validateCertificateChain(List<X509Certificate> chain, String applicationUri) throws UaException {
            validateCertificateChain(chain);
        }
    }

    /** The Bench folder and its variables, and the monitored items on them. */
    static final class BenchNamespace extends ManagedNamespaceWithLifecycle {

        private final int n;
        /** the Types variables follow the n Bench variables in current[] and items[]: index n + 2 * type (+ 1 for the array) */
        private final Map<String, Integer> typeIndex = new HashMap<>();
        /** guards current[] and items[]: a tick and the creation of an item never interleave */
        private final Object lock = new Object();
        private final Map<NodeId, Integer> indexOf = new HashMap<>();
        /** each variable's value (what a Read returns and a new monitored item gets first) */
        private final DataValue[] current;
        /** the Value data items of each variable */
        private final List<List<DataItem>> items;

        BenchNamespace(OpcUaServer server, String nsUri, int n) {
            super(server, nsUri);
            this.n = n;
            int all = n + 2 * TYPES.length;
            this.current = new DataValue[all];
            this.items = new ArrayList<>(all);
            DateTime start = DateTime.now();
            for (int i = 0; i < all; i++) {
                current[i] = i < n ? new DataValue(new Variant(0.0), StatusCode.GOOD, start, start) : new DataValue(Variant.NULL_VALUE, StatusCode.GOOD, start, start);
                items.add(new ArrayList<>(1));
            }
            getLifecycleManager().addStartupTask(this::addNodes);
        }

        private void addNodes() {
            UaFolderNode folder = new UaFolderNode(getNodeContext(), newNodeId("Bench"), newQualifiedName("Bench"),
                LocalizedText.english("Bench"));
            getNodeManager().addNode(folder);
            folder.addReference(new Reference(folder.getNodeId(), Identifiers.Organizes,
                Identifiers.ObjectsFolder.expanded(), false));
            for (int i = 0; i < n; i++) {
                String name = "v" + i;
                UaVariableNode node = new UaVariableNode.UaVariableNodeBuilder(getNodeContext())
                    .setNodeId(newNodeId(name))
                    .setBrowseName(newQualifiedName(name))
                    .setDisplayName(LocalizedText.english(name))
                    .setDataType(Identifiers.Double)
                    .setTypeDefinition(Identifiers.BaseDataVariableType)
                    .setAccessLevel(AccessLevel.READ_ONLY)
                    .setUserAccessLevel(AccessLevel.READ_ONLY)
                    .build();
                final int index = i;
                // reads see the latest tick without a write to the node per change
                node.getFilterChain().addLast(AttributeFilters.getValue(ctx -> current[index]));
                getNodeManager().addNode(node);
                folder.addComponent(node);
                indexOf.put(node.getNodeId(), i);
            }
            addTypes();
        }

        /** the Types folder: per type a scalar and an array variable */
        private void addTypes() {
            UaFolderNode folder = new UaFolderNode(getNodeContext(), newNodeId("Types"), newQualifiedName("Types"),
                LocalizedText.english("Types"));
            getNodeManager().addNode(folder);
            folder.addReference(new Reference(folder.getNodeId(), Identifiers.Organizes,
                Identifiers.ObjectsFolder.expanded(), false));
            for (int t = 0; t < TYPES.length; t++) {
                for (int array = 0; array < 2; array++) {
                    String name = TYPES[t] + (array == 1 ? "Array" : "");
                    UaVariableNode node = new UaVariableNode.UaVariableNodeBuilder(getNodeContext())
                        .setNodeId(newNodeId("t." + name))
                        .setBrowseName(newQualifiedName(name))
                        .setDisplayName(LocalizedText.english(name))
                        .setDataType(TYPE_IDS[t])
                        .setValueRank(array == 1 ? ValueRanks.OneDimension : ValueRanks.Scalar)
                        .setTypeDefinition(Identifiers.BaseDataVariableType)
                        .setAccessLevel(AccessLevel.READ_ONLY)
                        .setUserAccessLevel(AccessLevel.READ_ONLY)
                        .build();
                    final int index = n + 2 * t + array;
                    node.getFilterChain().addLast(AttributeFilters.getValue(ctx -> current[index]));
                    getNodeManager().addNode(node);
                    folder.addComponent(node);
                    indexOf.put(node.getNodeId(), index);
                    typeIndex.put(name, index);
                }
            }
        }

        /** `<Type> <element>` or `<Type>Array <count> <elements>`: the variable's new value, to each of its items */
        void set(String args) {
            String[] parts = args.split(" ", -1);
            Integer index = typeIndex.get(parts[0]);
            if (index == null) throw new IllegalArgumentException("no Types variable " + parts[0]);
            int t = (index - n) / 2;
            boolean array = (index - n) % 2 == 1;
            Object value;
            if (array) {
                int count = Integer.parseInt(parts[1]);
                String[] elements = count == 0 ? new String[0] : parts.length > 2 ? parts[2].split(",", -1) : new String[] {""};
                if (elements.length != count) throw new IllegalArgumentException(count + " elements announced, " + elements.length + " given");
                Object arr = java.lang.reflect.Array.newInstance(TYPE_CLASSES[t], count);
                for (int i = 0; i < count; i++) java.lang.reflect.Array.set(arr, i, parseElement(TYPES[t], elements[i]));
                value = arr;
            } else {
                value = parseElement(TYPES[t], parts.length > 1 ? parts[1] : "");
            }
            DateTime now = DateTime.now();
            DataValue dv = new DataValue(new Variant(value), StatusCode.GOOD, now, now);
            synchronized (lock) {
                current[index] = dv;
                for (DataItem item : items.get(index)) {
                    if (item.isSamplingEnabled()) item.setValue(dv);
                }
            }
        }

        /** Tick k: variable i becomes k + 1 + i/n; one DataValue per variable goes to each of its items. */
        void tick(long k) {
            DateTime now = DateTime.now();
            synchronized (lock) {
                for (int i = 0; i < n; i++) {
                    DataValue value = new DataValue(new Variant(k + 1 + (double) i / n), StatusCode.GOOD, now, now);
                    current[i] = value;
                    List<DataItem> of = items.get(i);
                    for (int j = 0; j < of.size(); j++) {
                        DataItem item = of.get(j);
                        if (item.isSamplingEnabled()) item.setValue(value);
                    }
                }
            }
        }

        /** the variable a Value item monitors, or -1 (another attribute, or not one of the variables) */
        private int valueIndex(MonitoredItem item) {
            if (!AttributeId.Value.isEqual(item.getReadValueId().getAttributeId())) return -1;
            Integer i = indexOf.get(item.getReadValueId().getNodeId());
            return i == null ? -1 : i;
        }

        @Override
        public void onDataItemsCreated(List<DataItem> created) {
            synchronized (lock) {
                for (DataItem item : created) {
                    int i = valueIndex(item);
                    if (i >= 0) {
                        items.get(i).add(item);
                        // the first notification of a monitored item is the current value
                        if (item.isSamplingEnabled()) item.setValue(current[i]);
                    } else {
                        // any other attribute never changes: its value once
                        UaNode node = getNodeManager().get(item.getReadValueId().getNodeId());
                        AttributeId id = AttributeId.from(item.getReadValueId().getAttributeId()).orElse(null);
                        if (node != null && id != null && item.isSamplingEnabled()) {
                            item.setValue(node.getAttribute(new AttributeContext(getServer()), id));
                        }
                    }
                }
            }
        }

        @Override
        public void onDataItemsModified(List<DataItem> modified) {
            // sampling interval, queue size and filter are the item's own (Milo re-queues on a new queue size)
        }

        @Override
        public void onDataItemsDeleted(List<DataItem> deleted) {
            synchronized (lock) {
                for (DataItem item : deleted) {
                    int i = valueIndex(item);
                    if (i >= 0) items.get(i).remove(item);
                }
            }
        }

        @Override
        public void onMonitoringModeChanged(List<MonitoredItem> changed) {
            synchronized (lock) {
                for (MonitoredItem m : changed) {
                    int i = valueIndex(m);
                    // re-enabled: its first value again (the filter drops it when the item still has it)
                    if (i >= 0 && m instanceof DataItem && m.isSamplingEnabled()) ((DataItem) m).setValue(current[i]);
                }
            }
        }
    }

    /** the Types variables: OPC-UA built-in types, their DataType nodes and the Java class Milo encodes each from */
    static final String[] TYPES = {
        "Boolean", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64",
        "Float", "Double", "String", "DateTime", "ByteString", "Guid",
    };
    static final NodeId[] TYPE_IDS = {
        Identifiers.Boolean, Identifiers.SByte, Identifiers.Byte, Identifiers.Int16, Identifiers.UInt16, Identifiers.Int32,
        Identifiers.UInt32, Identifiers.Int64, Identifiers.UInt64, Identifiers.Float, Identifiers.Double, Identifiers.String,
        Identifiers.DateTime, Identifiers.ByteString, Identifiers.Guid,
    };
    static final Class<?>[] TYPE_CLASSES = {
        Boolean.class, Byte.class, UByte.class, Short.class, UShort.class, Integer.class, UInteger.class, Long.class, ULong.class,
        Float.class, Double.class, String.class, DateTime.class, ByteString.class, UUID.class,
    };

    /** One element as the `set` command writes it (see the header): exact for every value of the type. */
    static Object parseElement(String type, String text) {
        switch (type) {
            case "Boolean": return Boolean.parseBoolean(text);
            case "SByte": return Byte.parseByte(text);
            case "Byte": return UByte.valueOf(Short.parseShort(text));
            case "Int16": return Short.parseShort(text);
            case "UInt16": return UShort.valueOf(Integer.parseInt(text));
            case "Int32": return Integer.parseInt(text);
            case "UInt32": return UInteger.valueOf(Long.parseLong(text));
            case "Int64": return Long.parseLong(text);
            case "UInt64": return ULong.valueOf(new BigInteger(text));
            case "Float": return Float.intBitsToFloat(Integer.parseUnsignedInt(text, 16));
            case "Double": return Double.longBitsToDouble(Long.parseUnsignedLong(text, 16));
            case "String": return new String(Base64.getDecoder().decode(text), StandardCharsets.UTF_8);
            case "DateTime": return new DateTime(Long.parseLong(text));
            case "ByteString": {
                byte[] b = new byte[text.length() / 2];
                for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(text.substring(2 * i, 2 * i + 2), 16);
                return ByteString.of(b);
            }
            case "Guid": return UUID.fromString(text);
            default: throw new IllegalArgumentException("unknown type " + type);
        }
    }

    /** Ticks every 100 ms on an absolute schedule while started; counts the changes made. */
    static final class Ticker implements Runnable {

        private final BenchNamespace namespace;
        private final int n;
        private final com.sun.management.OperatingSystemMXBean os =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        private boolean running = false;
        private long k = 0;
        private long due = 0;
        private long units = 0;

        Ticker(BenchNamespace namespace, int n) {
            this.namespace = namespace;
            this.n = n;
        }

        synchronized void start() {
            if (running) return;
            running = true;
            due = System.nanoTime();
            notifyAll();
        }

        /** returns once no tick runs (a tick holds this monitor), so the counts after it are final */
        synchronized void stop() {
            running = false;
            notifyAll();
        }

        synchronized String countsJson() {
            long cpuUs = os.getProcessCpuTime() / 1000;
            return "{\"type\":\"counts\",\"units\":" + units + ",\"bytes\":" + units * 8 + ",\"cpuUs\":" + cpuUs + "}";
        }

        @Override
        public synchronized void run() {
            try {
                for (;;) {
                    if (!running) {
                        wait();
                        continue;
                    }
                    long wait = due - System.nanoTime();
                    if (wait > 0) {
                        // releases the monitor: stop and counts are served meanwhile
                        wait(wait / 1_000_000, (int) (wait % 1_000_000));
                        continue;
                    }
                    namespace.tick(k++);
                    units += n;
                    due += PERIOD_NS;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
