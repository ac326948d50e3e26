"""The payload's wire protocol: PUS-C space packets, CUC time codes, COBS framing, field codecs."""
