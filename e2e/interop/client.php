<?php
// Interop check with the PHP stomp extension (Debian php-stomp).
[$_, $host, $port, $dest] = $argv;
$s = new Stomp("tcp://$host:$port", 'admin', 'admin');
for ($i = 0; $i < 3; $i++) {
    $s->send($dest, "php-$i", ['persistent' => 'true', 'x-note' => 'php']);
}
$s->subscribe($dest, ['ack' => 'client']);
$s->setReadTimeout(10);
$got = [];
while (count($got) < 3) {
    $f = $s->readFrame();
    if ($f === false) {
        fwrite(STDERR, "no message within 10 s\n");
        exit(1);
    }
    if (($f->headers['x-note'] ?? '') !== 'php') {
        fwrite(STDERR, "header x-note lost\n");
        exit(1);
    }
    $s->ack($f);
    $got[] = $f->body;
}
if ($got !== ['php-0', 'php-1', 'php-2']) {
    fwrite(STDERR, 'bodies ' . json_encode($got) . "\n");
    exit(1);
}
unset($s);
echo "OK 3\n";
