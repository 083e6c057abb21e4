# Test peer: a TCP client that sends and receives with the syscalls real programs use (sendto via send(), sendmsg
# with many iovecs, recvfrom via recv(), recvmsg), so the capture of each shape can be checked byte for byte.
# argv: port, request spec (JSON: list of [shape, hex bytes, pieces]), response length. Prints the client port.
import json, socket, sys

port, plan, want = int(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
print(s.getsockname()[1], flush=True)
for shape, hexdata, pieces in plan:
    data = bytes.fromhex(hexdata)
    if shape == "send":
        s.sendall(data)
    elif shape == "sendmsg":
        n = len(data) // pieces
        bufs = [data[i * n:(i + 1) * n] for i in range(pieces - 1)] + [data[(pieces - 1) * n:]]
        sent = s.sendmsg(bufs)
        if sent != len(data):
            s.sendall(data[sent:])
got = bytearray()
turn = 0
while len(got) < want:
    if turn % 2 == 0:
        b = s.recv(700)
    else:
        parts = [bytearray(300), bytearray(400)]
        n = s.recvmsg_into(parts)[0]
        b = (bytes(parts[0]) + bytes(parts[1]))[:n]
    if not b:
        break
    got += b
    turn += 1
sys.stdout.write(bytes(got).hex() + "\n")
s.close()
