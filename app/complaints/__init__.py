"""Complaints and the 12345 hotline (投诉 / 12345): register, investigate, reply, archive.

The supervision office (驻厅监察室) registers a ticket from a call, a letter, the website or a
visit, assigns it to the department concerned, whose staff investigate; the office replies
to the complainant and archives the ticket. A phone ticket is answered within 3 working
days, a written one within 7; late tickets get a yellow and a red card like cases do.
"""
