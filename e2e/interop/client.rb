# Interop check with the stomp gem (Debian ruby-stomp) on STOMP 1.2.
require 'stomp'

host, port, dest = ARGV[0], ARGV[1].to_i, ARGV[2]
conn = Stomp::Connection.new(
  hosts: [{ login: 'admin', passcode: 'admin', host: host, port: port }],
  connect_headers: { 'accept-version' => '1.2', 'host' => 'localhost' },
  reliable: false
)
3.times do |i|
  conn.publish(dest, "rb-#{i}", { 'persistent' => 'true', 'x-note' => 'ruby:1', 'receipt' => "r#{i}" })
end
conn.subscribe(dest, { 'ack' => 'client-individual', 'id' => 's1' })
got = []
deadline = Time.now + 10
while got.size < 3
  abort 'timed out waiting for messages' if Time.now > deadline
  msg = conn.poll
  if msg.nil?
    sleep 0.02
    next
  end
  next unless msg.command == 'MESSAGE'
  abort "header x-note came back as #{msg.headers['x-note'].inspect}" unless msg.headers['x-note'] == 'ruby:1'
  conn.ack(msg.headers['ack'])
  got << msg.body
end
abort "bodies #{got.inspect}" unless got == %w[rb-0 rb-1 rb-2]
conn.disconnect
puts 'OK 3'
