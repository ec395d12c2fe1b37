package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// deleteRedisKeys deletes every key that starts with prefix (the unique
// key prefix of the server the harness started), with SCAN and DEL over a
// plain RESP connection: the harness needs no Redis client library for
// two commands. It returns how many keys it deleted.
func deleteRedisKeys(addr, prefix string) (int, error) {
	if prefix == "" || strings.ContainsAny(prefix, "*?[]\\") {
		return 0, fmt.Errorf("delete redis keys: refusing prefix %q", prefix)
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, fmt.Errorf("delete redis keys: %w", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		return 0, err
	}
	r := bufio.NewReader(conn)
	deleted, cursor := 0, "0"
	for {
		reply, err := command(conn, r, "SCAN", cursor, "MATCH", prefix+"*", "COUNT", "1000")
		if err != nil {
			return deleted, fmt.Errorf("delete redis keys: scan: %w", err)
		}
		next, keys, err := scanReply(reply)
		if err != nil {
			return deleted, fmt.Errorf("delete redis keys: scan: %w", err)
		}
		if len(keys) > 0 {
			n, err := command(conn, r, append([]string{"DEL"}, keys...)...)
			if err != nil {
				return deleted, fmt.Errorf("delete redis keys: del: %w", err)
			}
			if i, ok := n.(int64); ok {
				deleted += int(i)
			}
		}
		if next == "0" {
			return deleted, nil
		}
		cursor = next
	}
}

// scanReply splits a SCAN reply: [cursor, [key...]].
func scanReply(reply any) (string, []string, error) {
	arr, ok := reply.([]any)
	if !ok || len(arr) != 2 {
		return "", nil, errors.New("unexpected reply")
	}
	cursor, ok := arr[0].(string)
	if !ok {
		return "", nil, errors.New("unexpected cursor")
	}
	items, ok := arr[1].([]any)
	if !ok {
		return "", nil, errors.New("unexpected key list")
	}
	keys := make([]string, 0, len(items))
	for _, it := range items {
		k, ok := it.(string)
		if !ok {
			return "", nil, errors.New("unexpected key")
		}
		keys = append(keys, k)
	}
	return cursor, keys, nil
}

// command sends args as one RESP array of bulk strings and reads the reply.
func command(w io.Writer, r *bufio.Reader, args ...string) (any, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return nil, err
	}
	return readReply(r)
}

// readReply reads one RESP2 reply: a simple string or bulk string (as
// string), an integer (int64), nil, or an array ([]any). An error reply
// is returned as an error.
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, fmt.Errorf("redis: %s", body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("bad bulk length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("bad array length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", line[0])
}
