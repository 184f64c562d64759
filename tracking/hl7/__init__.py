"""HL7 v2 from the RIS: messages received over MLLP or from files, kept, acknowledged, and applied or queued."""
