# Interop check with Net::Stomp (Debian libnet-stomp-perl), a STOMP 1.0
# client: send with receipt, receive with client acks by message-id.
use strict;
use warnings;
use Net::Stomp;

my ($host, $port, $dest) = @ARGV;
my $stomp = Net::Stomp->new({ hostname => $host, port => $port });
$stomp->connect({ login => 'admin', passcode => 'admin' });
for my $i (0 .. 2) {
    $stomp->send_with_receipt({ destination => $dest, body => "pl-$i", persistent => 'true', 'x-note' => 'perl' })
        or die "send pl-$i was not confirmed\n";
}
$stomp->subscribe({ destination => $dest, ack => 'client' });
for my $i (0 .. 2) {
    $stomp->can_read({ timeout => 10 }) or die "no message within 10 s\n";
    my $frame = $stomp->receive_frame;
    die "got " . $frame->command . "\n" unless $frame->command eq 'MESSAGE';
    die "body " . $frame->body . "\n" unless $frame->body eq "pl-$i";
    die "header x-note lost\n" unless ($frame->headers->{'x-note'} // '') eq 'perl';
    $stomp->ack({ frame => $frame });
}
$stomp->disconnect;
print "OK 3\n";
