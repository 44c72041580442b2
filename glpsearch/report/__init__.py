"""What a run leaves and shows: the out folder's typed records, the folder read as
one, tables, plots, and the live display.
"""
