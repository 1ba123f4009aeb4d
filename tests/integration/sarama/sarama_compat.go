// Command sarama_compat drives a running Wharf broker with Debian's sarama 1.22.1 (Go) and
// checks what comes back: produce with every codec, the idempotent producer, a consumer group
// that stops after part of a topic and a second run in the same group that gets exactly the rest,
// the ClusterAdmin (create, describe, grow, delete topics; groups and their committed offsets),
// and the offset manager. Two configurations: sarama's default (Config.Version unset, so
// V0_8_2_0: no ApiVersions request, the oldest request versions) and V2_1_0_0 (the newest
// version sarama 1.22 acts on: V2_2_0_0 changes no request).
//
// sarama_test.sh builds nothing: CMake builds this file (GOPATH mode, Debian's
// /usr/share/gocode) and the script starts the broker and runs it. Prints "ok"/"FAIL" per
// check, then "sarama: N passed, M failed"; exits 1 on any failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

var (
	bootstrap string
	passed    int
	failed    int
)

func check(name string, ok bool, detail string, args ...interface{}) {
	if ok {
		passed++
		fmt.Printf("ok   %s\n", name)
		return
	}
	failed++
	fmt.Printf("FAIL %s: %s\n", name, fmt.Sprintf(detail, args...))
}

func equal(name string, want, got interface{}) {
	w, g := fmt.Sprintf("%v", want), fmt.Sprintf("%v", got)
	check(name, w == g, "expected %s, got %s", w, g)
}

func noError(name string, err error) bool {
	check(name, err == nil, "%v", err)
	return err == nil
}

// config returns a sarama configuration at the given version; a zero version keeps sarama's
// default (V0_8_2_0).
func config(version *sarama.KafkaVersion) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = "sarama-compat"
	if version != nil {
		c.Version = *version
	}
	c.Metadata.Retry.Max = 10
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Return.Errors = true
	return c
}

type record struct {
	partition int32
	offset    int64
	key       string
	value     string
}

// readPartition reads [0, count) of one partition with a partition consumer.
func readPartition(cfg *sarama.Config, topic string, partition int32, count int) ([]record, error) {
	consumer, err := sarama.NewConsumer([]string{bootstrap}, cfg)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, partition, sarama.OffsetOldest)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	var out []record
	timeout := time.After(30 * time.Second)
	for len(out) < count {
		select {
		case m := <-pc.Messages():
			out = append(out, record{m.Partition, m.Offset, string(m.Key), string(m.Value)})
		case e := <-pc.Errors():
			return out, e
		case <-timeout:
			return out, fmt.Errorf("only %d of %d records within 30 s", len(out), count)
		}
	}
	return out, nil
}

// produce sends count keyed records to one partition with a sync producer, in one batch.
func produce(cfg *sarama.Config, topic string, partition int32, prefix string, count int) error {
	producer, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	if err != nil {
		return err
	}
	defer producer.Close()
	msgs := make([]*sarama.ProducerMessage, count)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: partition,
			Key:   sarama.StringEncoder(fmt.Sprintf("k%d", i)),
			Value: sarama.StringEncoder(fmt.Sprintf("%s-%d-%s", prefix, i, strings.Repeat("x", 100)))}
	}
	return explain(producer.SendMessages(msgs))
}

// explain replaces sarama's "Failed to deliver N messages" with the first message's own error.
func explain(err error) error {
	var perrs sarama.ProducerErrors
	if errors.As(err, &perrs) && len(perrs) > 0 {
		return fmt.Errorf("%d failed, the first with: %w", len(perrs), perrs[0].Err)
	}
	return err
}

// checkRecords: exactly count records at offsets 0..count-1 with the keys and values produced.
func checkRecords(name string, records []record, prefix string, count int) {
	bad := ""
	for i, r := range records {
		want := record{r.partition, int64(i), fmt.Sprintf("k%d", i),
			fmt.Sprintf("%s-%d-%s", prefix, i, strings.Repeat("x", 100))}
		if r != want {
			bad = fmt.Sprintf("record %d is %+v", i, r)
			break
		}
	}
	check(name, len(records) == count && bad == "", "%d records (want %d) %s", len(records), count, bad)
}

func codecs(v sarama.KafkaVersion) {
	fmt.Println("== produce with every codec (Version " + v.String() + ")")
	for _, c := range []struct {
		name  string
		codec sarama.CompressionCodec
	}{{"none", sarama.CompressionNone}, {"gzip", sarama.CompressionGZIP},
		{"snappy", sarama.CompressionSnappy}, {"lz4", sarama.CompressionLZ4},
		{"zstd", sarama.CompressionZSTD}} {
		cfg := config(&v)
		cfg.Producer.Compression = c.codec
		cfg.Producer.Flush.Messages = 200 // one batch, so the stored batch is compressed
		topic := "sarama-codec-" + c.name
		if c.codec == sarama.CompressionZSTD {
			// sarama 1.22 sends at most Produce v3, and Kafka (2.1+) accepts zstd batches only
			// in Produce v7 or later: it answers UNSUPPORTED_COMPRESSION_TYPE (76), as Wharf must.
			err := produce(cfg, topic, 0, c.name, 200)
			check("zstd in Produce v3 is refused with UNSUPPORTED_COMPRESSION_TYPE, as Kafka refuses it",
				err != nil && strings.Contains(err.Error(), sarama.ErrUnsupportedCompressionType.Error()), "%v", err)
			continue
		}
		if !noError(c.name+": 200 records produced", produce(cfg, topic, 0, c.name, 200)) {
			continue
		}
		records, err := readPartition(config(&v), topic, 0, 200)
		noError(c.name+": read back", err)
		checkRecords(c.name+": 200 records at offsets 0..199 with their keys and values", records, c.name, 200)
	}
}

func idempotent(v sarama.KafkaVersion) {
	fmt.Println("== idempotent producer")
	cfg := config(&v)
	cfg.Producer.Idempotent = true
	cfg.Producer.Retry.Max = 5
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Compression = sarama.CompressionLZ4
	producer, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	if !noError("idempotent producer starts (InitProducerId)", err) {
		return
	}
	// Five batches of 100: each carries the next sequence number of the same producer id.
	for b := 0; b < 5; b++ {
		msgs := make([]*sarama.ProducerMessage, 100)
		for i := range msgs {
			n := b*100 + i
			msgs[i] = &sarama.ProducerMessage{Topic: "sarama-idem", Partition: 0,
				Key:   sarama.StringEncoder(fmt.Sprintf("k%d", n)),
				Value: sarama.StringEncoder(fmt.Sprintf("idem-%d-%s", n, strings.Repeat("x", 100)))}
		}
		if !noError(fmt.Sprintf("idempotent batch %d acknowledged", b), explain(producer.SendMessages(msgs))) {
			break
		}
	}
	producer.Close()
	records, err := readPartition(config(&v), "sarama-idem", 0, 500)
	noError("idempotent: read back", err)
	checkRecords("idempotent: exactly 500 records, offsets 0..499, in order", records, "idem", 500)
}

// groupHandler consumes and marks records until `limit` have been marked, then cancels its
// session; records delivered after that are seen but not marked (so not committed).
type groupHandler struct {
	mu     sync.Mutex
	limit  int
	marked map[string]record // by "p<partition>k<i>"
	seen   map[string]record
	dups   []string
	cancel context.CancelFunc
}

func (h *groupHandler) Setup(s sarama.ConsumerGroupSession) error {
	fmt.Printf("     generation %d claims %v\n", s.GenerationID(), s.Claims())
	return nil
}
func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		h.mu.Lock()
		r := record{m.Partition, m.Offset, string(m.Key), string(m.Value)}
		id := fmt.Sprintf("p%d%s", r.partition, r.key)
		if _, twice := h.seen[id]; twice {
			h.dups = append(h.dups, id)
		}
		h.seen[id] = r
		if len(h.marked) < h.limit {
			s.MarkMessage(m, "")
			h.marked[id] = r
			if len(h.marked) == h.limit {
				h.cancel()
			}
		}
		h.mu.Unlock()
	}
	return nil
}

// runGroup joins the group, consumes until limit records are marked, and closes the consumer
// (which commits the marked offsets and leaves the group).
func runGroup(v sarama.KafkaVersion, group, topic string, limit int) (*groupHandler, error) {
	cfg := config(&v)
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{bootstrap}, group, cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	h := &groupHandler{limit: limit, marked: map[string]record{}, seen: map[string]record{}, cancel: cancel}
	go func() {
		for e := range cg.Errors() {
			fmt.Printf("     consumer group error: %v\n", e)
		}
	}()
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{topic}, h); err != nil {
			cg.Close()
			return h, err
		}
	}
	if err := cg.Close(); err != nil {
		return h, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.marked) < limit {
		perPartition := map[int32]int{}
		for _, r := range h.seen {
			perPartition[r.partition]++
		}
		return h, fmt.Errorf("only %d of %d records within 40 s (seen per partition: %v)", len(h.marked), limit, perPartition)
	}
	return h, nil
}

func groupAndOffsets(v sarama.KafkaVersion) {
	fmt.Println("== consumer group: consume part, close, a second run gets exactly the rest")
	const topic, group, partitions, perPartition = "sarama-group", "sarama-g", 3, 100
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, config(&v))
	if !noError("cluster admin connects", err) {
		return
	}
	defer admin.Close()
	noError("create the group's topic", admin.CreateTopic(topic,
		&sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false))
	all := map[string]record{}
	for p := int32(0); p < partitions; p++ {
		prefix := fmt.Sprintf("p%d", p)
		noError(fmt.Sprintf("produce %d records to partition %d", perPartition, p),
			produce(config(&v), topic, p, prefix, perPartition))
		for i := 0; i < perPartition; i++ {
			key := fmt.Sprintf("k%d", i)
			all[prefix+key] = record{p, int64(i), key, fmt.Sprintf("%s-%d-%s", prefix, i, strings.Repeat("x", 100))}
		}
	}

	first, err := runGroup(v, group, topic, 120)
	if !noError("first run marks 120 records and closes", err) {
		return
	}
	committed := map[int32]int64{}
	for _, r := range first.marked {
		if r.offset+1 > committed[r.partition] {
			committed[r.partition] = r.offset + 1
		}
	}
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2}})
	if noError("ListConsumerGroupOffsets after the first run", err) {
		got := map[int32]int64{}
		for p := int32(0); p < partitions; p++ {
			if b := resp.GetBlock(topic, p); b != nil && b.Err == sarama.ErrNoError && b.Offset >= 0 {
				got[p] = b.Offset
			}
		}
		equal("committed offsets are the next offset after each partition's last marked record", committed, got)
	}

	rest := map[string]record{}
	for id, r := range all {
		if _, done := first.marked[id]; !done {
			rest[id] = r
		}
	}
	second, err := runGroup(v, group, topic, len(rest))
	if noError(fmt.Sprintf("second run in the same group marks the other %d records", len(rest)), err) {
		equal("the second run starts at the committed offsets: exactly the rest, no duplicates",
			fmt.Sprint(sortedKeys(rest)), fmt.Sprint(sortedKeys(second.seen)))
		check("no record delivered twice within a run", len(first.dups)+len(second.dups) == 0,
			"%v %v", first.dups, second.dups)
		for id, r := range second.seen {
			if r != all[id] {
				check("records keep their partition, offset, key and value", false, "%+v != %+v", r, all[id])
				break
			}
		}
	}

	fmt.Println("== offsets: committed offsets listed, groups described, the offset manager")
	resp, err = admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2}})
	if noError("ListConsumerGroupOffsets after the second run", err) {
		got := []int64{}
		for p := int32(0); p < partitions; p++ {
			got = append(got, resp.GetBlock(topic, p).Offset)
		}
		equal("every partition is committed at its end", []int64{perPartition, perPartition, perPartition}, got)
	}
	groups, err := admin.ListConsumerGroups()
	if noError("ListConsumerGroups", err) {
		equal("the group is listed with protocol type consumer", "consumer", groups[group])
	}
	desc, err := admin.DescribeConsumerGroups([]string{group})
	if noError("DescribeConsumerGroups", err) && len(desc) == 1 {
		equal("the closed group is Empty", "Empty", desc[0].State)
	}
	client, err := sarama.NewClient([]string{bootstrap}, config(&v))
	if !noError("client connects", err) {
		return
	}
	defer client.Close()
	for _, at := range []struct {
		name string
		time int64
		want int64
	}{{"OffsetOldest", sarama.OffsetOldest, 0}, {"OffsetNewest", sarama.OffsetNewest, perPartition}} {
		got, err := client.GetOffset(topic, 1, at.time)
		noError("GetOffset "+at.name, err)
		equal("GetOffset "+at.name+" (ListOffsets)", at.want, got)
	}
	offsetManager(v, client, topic)
}

// offsetManager commits with sarama's OffsetManager (no group membership: generation -1) and
// reads the offset back through a fresh one.
func offsetManager(v sarama.KafkaVersion, client sarama.Client, topic string) {
	group := "sarama-om-" + strings.ReplaceAll(v.String(), ".", "_")
	om, err := sarama.NewOffsetManagerFromClient(group, client)
	if !noError("offset manager ("+v.String()+")", err) {
		return
	}
	pom, err := om.ManagePartition(topic, 2)
	if !noError("ManagePartition", err) {
		om.Close()
		return
	}
	next, _ := pom.NextOffset()
	equal("a group with no commit starts at Consumer.Offsets.Initial", sarama.OffsetOldest, next)
	pom.MarkOffset(42, "meta")
	pom.Close()
	noError("offset manager closes (commits the marked offset)", om.Close())
	om, err = sarama.NewOffsetManagerFromClient(group, client)
	if !noError("second offset manager", err) {
		return
	}
	defer om.Close()
	if pom, err = om.ManagePartition(topic, 2); noError("ManagePartition again", err) {
		next, meta := pom.NextOffset()
		equal("the committed offset and metadata read back (OffsetFetch)", "42 meta", fmt.Sprint(next, " ", meta))
		pom.Close()
	}
}

func adminFlow(v sarama.KafkaVersion) {
	fmt.Println("== ClusterAdmin: create, describe, grow, delete")
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, config(&v))
	if !noError("cluster admin connects", err) {
		return
	}
	defer admin.Close()
	retention := "3600000"
	err = admin.CreateTopic("sarama-admin", &sarama.TopicDetail{NumPartitions: 4, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &retention}}, false)
	noError("CreateTopic with 4 partitions and retention.ms", err)
	err = admin.CreateTopic("sarama-admin", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
	check("creating it again gets TOPIC_ALREADY_EXISTS", errors.Is(err, sarama.ErrTopicAlreadyExists) ||
		(err != nil && strings.Contains(err.Error(), sarama.ErrTopicAlreadyExists.Error())), "%v", err)
	err = admin.CreateTopic("sarama-admin-bad", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3}, false)
	check("replication factor 3 gets INVALID_REPLICATION_FACTOR", err != nil &&
		strings.Contains(err.Error(), sarama.ErrInvalidReplicationFactor.Error()), "%v", err)

	topics, err := admin.ListTopics()
	if noError("ListTopics", err) {
		d, ok := topics["sarama-admin"]
		check("ListTopics shows the topic", ok, "not in %v", topics)
		equal("ListTopics: 4 partitions, replication factor 1", "4 1", fmt.Sprint(d.NumPartitions, " ", d.ReplicationFactor))
		if e := d.ConfigEntries["retention.ms"]; check2("ListTopics carries retention.ms", e != nil) {
			equal("ListTopics: retention.ms as created", retention, *e)
		}
		_, bad := topics["sarama-admin-bad"]
		check("the refused topic does not exist", !bad, "it is listed")
	}
	md, err := admin.DescribeTopics([]string{"sarama-admin"})
	if noError("DescribeTopics", err) && len(md) == 1 {
		leaders := []string{}
		for _, p := range md[0].Partitions {
			leaders = append(leaders, fmt.Sprintf("%d:%d%v", p.ID, p.Leader, p.Replicas))
		}
		sort.Strings(leaders)
		equal("DescribeTopics: every partition led by broker 0", "[0:0[0] 1:0[0] 2:0[0] 3:0[0]]", leaders)
	}
	brokers, controller, err := admin.DescribeCluster()
	if noError("DescribeCluster (Metadata)", err) {
		// sarama sends Metadata v0 here, which has no controller field: it reports -1.
		equal("one broker, node 0, at the listener", fmt.Sprint("1 0 ", bootstrap, " -1"),
			fmt.Sprint(len(brokers), " ", brokers[0].ID(), " ", brokers[0].Addr(), " ", controller))
	}
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "sarama-admin",
		ConfigNames: []string{"retention.ms", "cleanup.policy"}})
	if noError("DescribeConfig", err) {
		got := map[string]string{}
		for _, e := range entries {
			got[e.Name] = fmt.Sprint(e.Value, " default=", e.Default)
		}
		equal("DescribeConfig: the override and a default", "map[cleanup.policy:delete default=true retention.ms:3600000 default=false]", got)
	}
	noError("CreatePartitions to 6", admin.CreatePartitions("sarama-admin", 6, nil, false))
	if md, err := admin.DescribeTopics([]string{"sarama-admin"}); noError("DescribeTopics after growing", err) {
		equal("the topic has 6 partitions", 6, len(md[0].Partitions))
	}
	noError("DeleteTopic", admin.DeleteTopic("sarama-admin"))
	if topics, err := admin.ListTopics(); noError("ListTopics after delete", err) {
		_, still := topics["sarama-admin"]
		check("the deleted topic is gone", !still, "still listed")
	}
	err = admin.DeleteTopic("sarama-admin")
	check("deleting it again gets UNKNOWN_TOPIC_OR_PARTITION", err != nil &&
		strings.Contains(err.Error(), sarama.ErrUnknownTopicOrPartition.Error()), "%v", err)
}

func check2(name string, ok bool) bool {
	check(name, ok, "missing")
	return ok
}

// defaultConfig: sarama's defaults (Version V0_8_2_0) send no ApiVersions request and use
// Metadata v0, Produce v0 (message format v0), Fetch v0, ListOffsets v0, OffsetCommit v1 and
// OffsetFetch v1. Wharf serves all but Produce v0-2 and Fetch v0-3 (docs/broker.md, "Old
// message formats stay refused"); these checks pin down what such a client gets.
func defaultConfig() {
	fmt.Println("== default config (Version unset = " + sarama.NewConfig().Version.String() + ")")
	client, err := sarama.NewClient([]string{bootstrap}, config(nil))
	if !noError("default-config client connects (Metadata v0)", err) {
		return
	}
	defer client.Close()
	parts, err := client.Partitions("sarama-group")
	noError("Metadata v0 lists the partitions", err)
	equal("Metadata v0: the topic has 3 partitions", "[0 1 2]", parts)
	newest, err := client.GetOffset("sarama-group", 0, sarama.OffsetNewest)
	noError("ListOffsets v0 (newest)", err)
	equal("ListOffsets v0: the partition's end", 100, newest)
	offsetManager(sarama.NewConfig().Version, client, "sarama-group")

	// Produce v0 carries message format v0, which Wharf does not store (docs/broker.md, "Old
	// message formats stay refused"): the producer must get a clear error, not a hang.
	cfg := config(nil)
	cfg.Producer.Retry.Max = 0
	err = produce(cfg, "sarama-group", 0, "v0", 1)
	check("default-config Produce v0 is refused with UNSUPPORTED_VERSION (message format v0)",
		err != nil && strings.Contains(err.Error(), sarama.ErrUnsupportedVersion.Error()), "%v", err)
	if newest, err := client.GetOffset("sarama-group", 0, sarama.OffsetNewest); noError("ListOffsets v0 again", err) {
		equal("the refused produce stored nothing", 100, newest)
	}

	// Fetch v0 is not advertised (Wharf serves Fetch v4+, record batches only), and a request for
	// a version outside the table closes the connection, as Kafka does: the consumer sees EOF.
	consumer, err := sarama.NewConsumerFromClient(client)
	if !noError("default-config consumer", err) {
		return
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition("sarama-group", 0, sarama.OffsetOldest)
	if !noError("default-config ConsumePartition (ListOffsets v0)", err) {
		return
	}
	defer pc.AsyncClose()
	select {
	case m := <-pc.Messages():
		check("default-config Fetch v0 is not served: the connection closes (EOF)", false,
			"got a record at offset %d", m.Offset)
	case e := <-pc.Errors():
		check("default-config Fetch v0 is not served: the connection closes (EOF)",
			strings.Contains(e.Error(), "EOF"), "%v", e)
	case <-time.After(30 * time.Second):
		check("default-config Fetch v0 is not served: the connection closes (EOF)", false, "nothing within 30 s")
	}
}

func sortedKeys(m map[string]record) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func main() {
	flag.StringVar(&bootstrap, "bootstrap", "", "broker host:port")
	verbose := flag.Bool("v", false, "sarama's own log on stderr")
	flag.Parse()
	if *verbose {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Lmicroseconds)
	}
	if bootstrap == "" {
		fmt.Fprintln(os.Stderr, "usage: sarama_compat -bootstrap HOST:PORT")
		os.Exit(2)
	}
	v := sarama.V2_1_0_0
	codecs(v)
	idempotent(v)
	adminFlow(v)
	groupAndOffsets(v)
	defaultConfig()
	fmt.Printf("sarama: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
