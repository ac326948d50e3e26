"""Link adapters: the one interface behind which every link the payload sends files over sits."""
