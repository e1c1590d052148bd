"""History: the user's library of transcripts and summaries."""
