"""How bad a finding is, from worst: an error; a minor mismatch (the text, or a quoted number's source, gives a
cell otherwise, by less than a measurement would be allowed to miss it, and every claim and relation that reads
the cell gives the same verdict with either number); a truncation or rounding slip; a number that depends on
how it is read; a quoted cost that our build of the cited model does not reproduce while nothing read here
shows the quotation wrong (the source's own count unread, or equal to the quote); a sentence nothing here can
check."""

ERROR, MINOR, SLIP, READING, QUOTED, UNCHECKED = "error", "minor", "slip", "reading", "quoted", "unchecked"
SEVERITIES = {ERROR: "error", MINOR: "minor mismatch", SLIP: "truncation or rounding slip",
              READING: "depends on reading", QUOTED: "quoted cost not reproduced", UNCHECKED: "cannot be checked"}
CANNOT_CHECK = "cannot be checked"  # the cause of a sentence no table or measurement here can check
