# Stand-in for Fluentd, for tests and offline runs only: a receiver of
# Fluentd's forward protocol that prints every record on stdout in the
# format of Fluentd's stdout output:
#
#   2026-12-04 12:00:00.000000000 +0000 nginx.access: {"log":"..."}
#
# It accepts the protocol's Message, Forward, PackedForward and
# CompressedPackedForward modes, EventTime (extension type 0) and the
# "chunk" option, which it acknowledges. It reads no configuration file: it
# prints every tag, and it has no buffers, plugins or outputs.

require "json"
require "msgpack"
require "socket"
require "stringio"
require "zlib"

PORT = Integer(ENV.fetch("FLUENTD_PORT", "24224"))
$stdout.sync = true

def log(level, message)
  puts "#{Time.now.utc.strftime('%Y-%m-%d %H:%M:%S %z')} [#{level}]: #{message}"
end

def event_time(value)
  return value if value.is_a?(Time)
  return Time.at(value) if value.is_a?(Numeric)

  Time.now
end

def new_unpacker(io = nil)
  unpacker = io ? MessagePack::Unpacker.new(io) : MessagePack::Unpacker.new
  # EventTime: seconds and nanoseconds as two big-endian 32-bit integers.
  unpacker.register_type(0) do |data|
    seconds, nanoseconds = data.unpack("NN")
    Time.at(seconds, nanoseconds, :nsec)
  end
  unpacker
end

def print_record(tag, time, record)
  stamp = event_time(time).utc.strftime("%Y-%m-%d %H:%M:%S.%N %z")
  puts "#{stamp} #{tag}: #{JSON.generate(record)}"
end

# Return the [time, record] entries and the option map of one message.
def entries_of(message)
  second = message[1]
  case second
  when Array
    [second, message[2]]
  when String
    option = message[2] || {}
    packed = second
    if option["compressed"] == "gzip"
      packed = Zlib::GzipReader.new(StringIO.new(packed)).read
    end
    entries = []
    new_unpacker.tap { |u| u.feed(packed) }.each { |entry| entries << entry }
    [entries, option]
  else
    [[[second, message[2]]], message[3]]
  end
end

def serve(socket)
  new_unpacker(socket).each do |message|
    unless message.is_a?(Array) && message[0].is_a?(String)
      log("warn", "ignored a message that is not [tag, ...]: #{message.inspect[0, 80]}")
      next
    end
    entries, option = entries_of(message)
    entries.each { |time, record| print_record(message[0], time, record) }
    chunk = option.is_a?(Hash) ? option["chunk"] : nil
    socket.write(MessagePack.pack({ "ack" => chunk })) if chunk
  end
rescue EOFError, IOError, Errno::ECONNRESET, Errno::EPIPE
  nil
rescue StandardError => e
  log("error", "dropped a connection after #{e.class}: #{e.message}")
ensure
  socket.close unless socket.closed?
end

server = TCPServer.new("0.0.0.0", PORT)
log("info", "playground Fluentd stand-in: forward protocol on 0.0.0.0:#{PORT}, records to stdout")
Signal.trap("TERM") { exit 0 }
loop do
  Thread.new(server.accept) { |socket| serve(socket) }
end
