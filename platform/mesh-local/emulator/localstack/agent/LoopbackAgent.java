// The -javaagent LocalStack passes to DynamoDB Local. Its Jetty binds the
// wildcard address; this agent installs a SelectorProvider whose server
// sockets bind 127.0.0.1 instead, so DynamoDB Local listens on loopback only.
// Everything else is the JDK's own provider.

import java.io.IOException;
import java.lang.instrument.Instrumentation;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.ServerSocket;
import java.net.SocketAddress;
import java.net.SocketOption;
import java.nio.channels.DatagramChannel;
import java.nio.channels.Pipe;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.AbstractSelector;
import java.nio.channels.spi.SelectorProvider;
import java.util.Map;
import java.util.Set;

public final class LoopbackAgent extends SelectorProvider {
    private static SelectorProvider platform;

    public static void premain(String args, Instrumentation instrumentation) {
        // The JDK's provider, to delegate to, lives in a package java.base does not export.
        Module base = Object.class.getModule();
        instrumentation.redefineModule(base, Set.of(), Map.of("sun.nio.ch", Set.of(LoopbackAgent.class.getModule())),
            Map.of(), Set.of(), Map.of());
        // Read once, on first use of NIO: DynamoDB Local's main has not run yet.
        System.setProperty("java.nio.channels.spi.SelectorProvider", LoopbackAgent.class.getName());
    }

    private static synchronized SelectorProvider platform() {
        if (platform == null) {
            platform = sun.nio.ch.DefaultSelectorProvider.get();
        }
        return platform;
    }

    @Override public DatagramChannel openDatagramChannel() throws IOException { return platform().openDatagramChannel(); }
    @Override public DatagramChannel openDatagramChannel(ProtocolFamily family) throws IOException { return platform().openDatagramChannel(family); }
    @Override public Pipe openPipe() throws IOException { return platform().openPipe(); }
    @Override public AbstractSelector openSelector() throws IOException { return platform().openSelector(); }
    @Override public SocketChannel openSocketChannel() throws IOException { return platform().openSocketChannel(); }
    @Override public ServerSocketChannel openServerSocketChannel() throws IOException {
        return new Loopback(this, platform().openServerSocketChannel());
    }

    /** A server channel that binds the loopback address when asked for the wildcard. */
    private static final class Loopback extends ServerSocketChannel {
        private final ServerSocketChannel inner;

        Loopback(SelectorProvider provider, ServerSocketChannel inner) {
            super(provider);
            this.inner = inner;
        }

        @Override public ServerSocketChannel bind(SocketAddress local, int backlog) throws IOException {
            int port = local instanceof InetSocketAddress address ? address.getPort() : 0;
            boolean wildcard = local == null
                || (local instanceof InetSocketAddress address && address.getAddress() != null && address.getAddress().isAnyLocalAddress());
            inner.bind(wildcard ? new InetSocketAddress(InetAddress.getLoopbackAddress(), port) : local, backlog);
            return this;
        }
        @Override public <T> ServerSocketChannel setOption(SocketOption<T> name, T value) throws IOException { inner.setOption(name, value); return this; }
        @Override public <T> T getOption(SocketOption<T> name) throws IOException { return inner.getOption(name); }
        @Override public Set<SocketOption<?>> supportedOptions() { return inner.supportedOptions(); }
        @Override public ServerSocket socket() { return inner.socket(); }
        @Override public SocketChannel accept() throws IOException { return inner.accept(); }
        @Override public SocketAddress getLocalAddress() throws IOException { return inner.getLocalAddress(); }
        @Override protected void implCloseSelectableChannel() throws IOException { inner.close(); }
        @Override protected void implConfigureBlocking(boolean block) throws IOException { inner.configureBlocking(block); }
    }
}
