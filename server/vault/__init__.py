"""Owner credentials (Tencent Cloud keys, buckets, topics), encrypted at rest, masked everywhere they are shown."""
